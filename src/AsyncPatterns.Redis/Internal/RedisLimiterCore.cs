using System.Diagnostics;
using System.Threading.RateLimiting;
using AsyncPatterns.Internal;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.RateLimiting.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace AsyncPatterns.Redis.Internal;

/// <summary>
/// The engine behind <see cref="RedisRateLimiter"/>. The limits live in Redis and are decided by one script call per
/// attempt (<see cref="RedisScripts.Acquire"/>); this class keeps the local side: a queue of waiters served by one pump
/// that sleeps until the time the script says the head's permits are due (or until a release is published), the held
/// leases it renews, the fault state and the local failover limiter.
/// </summary>
/// <remarks>
/// Invariants, under <see cref="_lock"/>: the permit count of <see cref="_queue"/> is the sum of the counts of the queued waiters;
/// <see cref="_pumping"/> is true while a pump task runs, and a pump runs whenever the queue is not empty (it is started
/// by the first waiter and exits only when it finds the queue empty or the limiter closed); a waiter leaves the queue
/// exactly once (granted, cancelled, failed, evicted or closed), and only the code that removes it completes it;
/// <see cref="_releasing"/> is true while a release loop runs, and one runs whenever <see cref="_releases"/> is not
/// empty (a lease leaves <see cref="_held"/> once and is then queued there until one release call takes it).
/// </remarks>
internal sealed class RedisLimiterCore : IDisposable
{
    /// <summary>The most leases one release call gives back (two script arguments each).</summary>
    private const int MaxReleaseBatch = 256;

    /// <summary>The arguments of <see cref="RedisScripts.Acquire"/> before the releases it carries.</summary>
    private const int AcquireArgumentCount = 9;

    private readonly Lock _lock = new();
    private readonly RateLimiter _owner;
    private readonly IConnectionMultiplexer _multiplexer;
    private readonly IDatabase _database;
    private readonly RedisKey[] _keys;
    private readonly RedisChannel _channel;
    private readonly string _channelName;
    private readonly string _key;
    private readonly double _intervalUs;      // 0: no rate limit
    private readonly int _burst;
    private readonly int _maxConcurrency;     // 0: no concurrency limit
    private readonly long _leaseUs;
    private readonly TimeSpan _leaseTime;
    private readonly TimeSpan _operationTimeout;
    private readonly int _queueLimit;
    private readonly QueueProcessingOrder _order;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly RedisFaultPolicy _policy;
    private readonly RequestRateLimiter? _local;
    private readonly int _localPermitLimit;
    private readonly bool _clientClock;
    private readonly Action<long, int>? _grantObserver;
    private readonly string _instance = Guid.NewGuid().ToString("N");
    private readonly CancellationTokenSource _closeCts;
    private readonly CancellationToken _closeToken;    // read without touching the source, which Dispose disposes
    private readonly ITimer? _renewTimer;
    private readonly Action<RedisChannel, RedisValue>? _onReleased;
    private readonly KeyValuePair<string, object?> _keyTag;

    private readonly HashSet<RedisLease> _held = [];
    private readonly List<RedisLease> _releases = [];
    private readonly WaiterQueue<Waiter> _queue = new();
    private bool _pumping;
    private bool _closed;
    private long _idleSince;
    private bool _faulted;
    private long _faultUntil;
    private string _faultReason = string.Empty;
    private int _toCharge;
    private long _releaseVersion;
    private TaskCompletionSource _releaseSignal = NewSignal();
    private bool _releaseSignalTaken;        // a waiter holds _releaseSignal's task: the next release completes and replaces it
    private long _available;
    private long _serverOffsetUs;
    private bool _haveOffset;
    private bool _renewing;
    private bool _releasing;
    private int _queuedReleases;              // _releases.Count, for a read without the lock
    private int _background;
    private TaskCompletionSource? _drained;
    private long _successful;
    private long _failedCount;
    private long _roundTrips;
    private long _leaseSequence;
    private int _loadedScripts;               // bits of the scripts this limiter has seen run: sent by digest from then on

    public RedisLimiterCore(RateLimiter owner, RedisRateLimiterOptions options)
    {
        _owner = owner;
        _closeCts = new CancellationTokenSource();
        _closeToken = _closeCts.Token;
        _multiplexer = options.ConnectionMultiplexer!;
        _database = _multiplexer.GetDatabase(options.Database);
        _key = options.Key;
        _keys = [$"{{{_key}}}:tat", $"{{{_key}}}:leases", $"{{{_key}}}:extra", $"{{{_key}}}:contended"];
        _channelName = $"{{{_key}}}:released";
        _channel = RedisChannel.Literal(_channelName);
        _intervalUs = double.IsPositiveInfinity(options.PermitsPerSecond) ? 0 : 1e6 / options.PermitsPerSecond;
        _burst = options.Burst;
        _maxConcurrency = options.MaxConcurrency == int.MaxValue ? 0 : options.MaxConcurrency;
        _leaseTime = options.LeaseTime;
        _leaseUs = options.LeaseTime.Ticks / 10;
        _operationTimeout = options.OperationTimeout;
        _queueLimit = options.QueueLimit;
        _order = options.QueueProcessingOrder;
        _time = options.TimeProvider;
        _logger = (ILogger?)options.LoggerFactory?.CreateLogger<RedisRateLimiter>() ?? NullLogger.Instance;
        _policy = options.FaultPolicy;
        _clientClock = options.UseClientClock;
        _grantObserver = options.GrantObserver;
        _keyTag = new(RedisRateLimiterMetrics.KeyTag, _key);
        PermitLimit = Math.Min(_intervalUs > 0 ? _burst : int.MaxValue, _maxConcurrency > 0 ? _maxConcurrency : int.MaxValue);
        _available = PermitLimit;
        _idleSince = _time.GetTimestamp();

        if (_policy == RedisFaultPolicy.FailOverToLocal)
        {
            var fraction = options.FailoverFraction;
            var local = new RequestRateLimiterOptions
            {
                PermitsPerSecond = _intervalUs > 0 ? options.PermitsPerSecond * fraction : double.PositiveInfinity,
                Burst = Math.Max(1, (int)Math.Floor(_burst * fraction)),
                MaxConcurrency = _maxConcurrency > 0 ? Math.Max(1, (int)Math.Floor(_maxConcurrency * fraction)) : int.MaxValue,
                QueueLimit = options.QueueLimit,
                QueueProcessingOrder = options.QueueProcessingOrder,
                TimeProvider = options.TimeProvider,
            };
            _local = new RequestRateLimiter(local);
            _localPermitLimit = Math.Min(_intervalUs > 0 ? local.Burst : int.MaxValue, local.MaxConcurrency);
        }

        if (_maxConcurrency > 0)
        {
            _onReleased = (_, _) => SignalRelease();
            Track(SubscribeAsync());
            var period = TimeSpan.FromTicks(_leaseTime.Ticks / 3);
            _renewTimer = _time.CreateTimer(static state => ((RedisLimiterCore)state!).OnRenewTimer(), this, period, period);
        }
    }

    /// <summary>The largest permit count one acquire may ask for: the burst, and the concurrency limit.</summary>
    public int PermitLimit { get; }

    /// <summary>Script calls sent to Redis so far (acquire, release and renew).</summary>
    public long RoundTrips => Interlocked.Read(ref _roundTrips);

    public TimeSpan? IdleDuration
    {
        get
        {
            lock (_lock)
            {
                return !_queue.IsEmpty || _held.Count != 0 ? null : _time.GetElapsedTime(_idleSince);
            }
        }
    }

    public RateLimiterStatistics GetStatistics()
    {
        lock (_lock)
        {
            return new RateLimiterStatistics
            {
                CurrentAvailablePermits = Volatile.Read(ref _available),
                CurrentQueuedCount = _queue.PermitCount,
                TotalFailedLeases = _failedCount,
                TotalSuccessfulLeases = _successful,
            };
        }
    }

    public RateLimitLease AttemptAcquire(int permitCount)
    {
        ValidatePermitCount(permitCount);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_closed, _owner);
            if (!_queue.IsEmpty && _order == QueueProcessingOrder.OldestFirst)
            {
                // Waiters go first.
                return Reject(EstimateRetryAfter(permitCount), null);
            }
        }

        if (CurrentFault() is { } reason)
        {
            return AttemptOnFault(permitCount, reason);
        }

        var member = NewMember(permitCount);
        Reply reply;
        RedisValue[]? arguments = null;
        try
        {
            CountRoundTrip("acquire");
            arguments = AcquireArguments(permitCount, member, TakeCharge());
            var result = Evaluate(RedisScripts.AcquireScript, arguments);
            reply = OnReply(Reply.Parse(result), permitCount);
        }
#pragma warning disable CA1031 // Every failure of Redis is a fault the policy handles.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            RequeueReleases(arguments);
            return AttemptOnFault(permitCount, EnterFault(ex));
        }

        return reply.Status switch
        {
            RedisScripts.Granted => Grant(permitCount, member),
            RedisScripts.Stale => AttemptOnFault(permitCount, EnterFault(null)),
            _ => Reject(RetryAfter(reply, 0), null),
        };
    }

    public ValueTask<RateLimitLease> AcquireAsync(int permitCount, CancellationToken cancellationToken)
    {
        ValidatePermitCount(permitCount);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<RateLimitLease>(cancellationToken);
        }

        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_closed, _owner);
            if (!_queue.IsEmpty && _order == QueueProcessingOrder.OldestFirst)
            {
                // Waiters go first: join the queue without asking Redis.
                return EnqueueAsync(permitCount, EstimateRetryAfter(permitCount), cancellationToken);
            }
        }

        return AcquireFirstAsync(permitCount, cancellationToken);
    }

    /// <summary>
    /// Gives back a lease's concurrency permits: sent at once when no release call is in flight, else queued, to ride on
    /// this process's next acquire call (given back before it is decided, so a release is never seen after an acquire
    /// that followed it) or to go with every other release that comes meanwhile in the one release call that follows
    /// (<see cref="ReleaseLoopAsync"/>).
    /// </summary>
    public void Release(RedisLease lease)
    {
        bool start;
        lock (_lock)
        {
            if (!_held.Remove(lease))
            {
                return;
            }

            if (_held.Count == 0)
            {
                _idleSince = _time.GetTimestamp();
            }

            start = EnqueueRelease(lease);
        }

        if (start)
        {
            Track(ReleaseLoopAsync());
        }
    }

    /// <summary>Fails the waiters with <see cref="ObjectDisposedException"/>, stops the pump and the renewals. Held leases can still be released.</summary>
    public void Dispose()
    {
        Waiter? waiters;
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            waiters = TakeAll();
        }

        _closeCts.Cancel();
        _closeCts.Dispose();
        _renewTimer?.Dispose();
        _local?.Dispose();
        if (_onReleased is not null)
        {
            Track(UnsubscribeAsync());
        }

        while (waiters is not null)
        {
            var next = waiters.Next;
            waiters.Next = null;
            waiters.TrySetException(new ObjectDisposedException(_owner.GetType().FullName));
            waiters = next;
        }
    }

    /// <summary>Closes, then waits (at most <see cref="RedisRateLimiterOptions.OperationTimeout"/>) for the calls in flight.</summary>
    public async ValueTask CloseAsync()
    {
        Dispose();
        Task drained;
        lock (_lock)
        {
            if (_background == 0)
            {
                return;
            }

            _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            drained = _drained.Task;
        }

        try
        {
            await drained.WaitAsync(_operationTimeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A call still in flight is observed by its tracker; nothing waits for it any more.
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static TimeSpan FromMicroseconds(double us) =>
        TimeSpan.FromTicks((long)Math.Clamp(Math.Ceiling(us * 10), 1, TimerLimits.MaxDueTime.Ticks));

    private async ValueTask<RateLimitLease> AcquireFirstAsync(int permitCount, CancellationToken cancellationToken)
    {
        if (CurrentFault() is { } reason)
        {
            return await AcquireOnFaultAsync(permitCount, reason, cancellationToken).ConfigureAwait(false);
        }

        var member = NewMember(permitCount);
        var version = Volatile.Read(ref _releaseVersion);
        Reply reply;
        try
        {
            reply = await CallAcquireAsync(permitCount, member, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
#pragma warning disable CA1031 // Every failure of Redis is a fault the policy handles.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return await AcquireOnFaultAsync(permitCount, EnterFault(ex), cancellationToken).ConfigureAwait(false);
        }

        if (reply.Status == RedisScripts.Granted)
        {
            return Grant(permitCount, member);
        }

        if (reply.Status == RedisScripts.Stale)
        {
            return await AcquireOnFaultAsync(permitCount, EnterFault(null), cancellationToken).ConfigureAwait(false);
        }

        ValueTask<RateLimitLease> wait;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_closed, _owner);
            wait = EnqueueAsync(permitCount, RetryAfter(reply, _queue.PermitCount), cancellationToken, (reply, version));
        }

        return await wait.ConfigureAwait(false);
    }

    /// <summary>Queues a waiter, or rejects it when the queue is full (evicting the oldest under NewestFirst). Under the lock.</summary>
    private ValueTask<RateLimitLease> EnqueueAsync(
        int permitCount, TimeSpan? retryAfter, CancellationToken cancellationToken, (Reply Reply, long Version)? denied = null)
    {
        Waiter? evicted = null;
        if (_queueLimit - _queue.PermitCount < permitCount)
        {
            if (_order == QueueProcessingOrder.NewestFirst && permitCount <= _queueLimit)
            {
                while (_queueLimit - _queue.PermitCount < permitCount)
                {
                    var oldest = _queue.Head!;
                    _queue.Remove(oldest);
                    oldest.Registration.Unregister();
                    oldest.Next = evicted;
                    evicted = oldest;
                }
            }
            else
            {
                return new ValueTask<RateLimitLease>(Reject(retryAfter, null));
            }
        }

        var waiter = new Waiter(this, permitCount, cancellationToken);
        _queue.Append(waiter);
        if (!_pumping)
        {
            _pumping = true;
            Track(Task.Run(() => PumpAsync(denied), CancellationToken.None));
        }

        if (cancellationToken.CanBeCanceled)
        {
            // Registered under the lock: a token cancelled right now runs the callback here, re-entering the lock.
            waiter.Registration = cancellationToken.UnsafeRegister(
                static (state, token) => ((Waiter)state!).Owner.Cancel((Waiter)state!, token), waiter);
        }

        while (evicted is not null)
        {
            var next = evicted.Next;
            evicted.Next = null;
            evicted.TrySetResult(Reject(null, null));
            evicted = next;
        }

        AssertInvariants();
        return new ValueTask<RateLimitLease>(waiter.Task);
    }

    /// <summary>
    /// Serves the queue, one script call per attempt, until it is empty or the limiter closes. Started after a denied
    /// call, it first waits as that reply says, so a queued acquire costs no second call before its permits are due.
    /// </summary>
    private async Task PumpAsync((Reply Reply, long Version)? denied)
    {
        var token = _closeToken;
        try
        {
            if (denied is { } first)
            {
                await WaitAsync(first.Reply, first.Version, token).ConfigureAwait(false);
            }

            while (true)
            {
                Waiter waiter;
                long version;
                lock (_lock)
                {
                    if (_closed || Next() is not { } next)
                    {
                        _pumping = false;
                        return;
                    }

                    waiter = next;
                    version = Volatile.Read(ref _releaseVersion);
                }

                if (CurrentFault() is { } reason)
                {
                    FailQueue(reason);
                    continue;
                }

                var member = NewMember(waiter.Count);
                Reply reply;
                try
                {
                    reply = await CallAcquireAsync(waiter.Count, member, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    throw;
                }
#pragma warning disable CA1031 // Every failure of Redis is a fault the policy handles.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    FailQueue(EnterFault(ex));
                    continue;
                }

                switch (reply.Status)
                {
                    case RedisScripts.Granted:
                        Deliver(waiter, member);
                        break;
                    case RedisScripts.Stale:
                        FailQueue(EnterFault(null));
                        break;
                    default:
                        await WaitAsync(reply, version, token).ConfigureAwait(false);
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            lock (_lock)
            {
                _pumping = false;
            }
        }
#pragma warning disable CA1031 // The pump must never die silently with waiters queued.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            RedisRateLimiterLog.QueueFaulted(_logger, _key, ex);
            Waiter? waiters;
            lock (_lock)
            {
                _pumping = false;
                waiters = TakeAll();
            }

            while (waiters is not null)
            {
                var next = waiters.Next;
                waiters.Next = null;
                waiters.TrySetException(ex);
                waiters = next;
            }
        }
    }

    /// <summary>Hands a granted lease to its waiter, or gives it back if the waiter left (cancelled) while the call was in flight.</summary>
    private void Deliver(Waiter waiter, string member)
    {
        bool queued;
        lock (_lock)
        {
            queued = waiter.Queued;
            if (queued)
            {
                _queue.Remove(waiter);
                waiter.Registration.Unregister();
            }

            AssertInvariants();
        }

        var lease = Grant(waiter.Count, member);
        if (queued)
        {
            waiter.TrySetResult(lease);
        }
        else
        {
            lease.Dispose();
        }
    }

    /// <summary>Sleeps as a denied reply says: until the rate's permits are due, or until a release (or the earliest lease expiry).</summary>
    private async Task WaitAsync(Reply reply, long version, CancellationToken token)
    {
        if (reply.Status == RedisScripts.RateShort)
        {
            await Task.Delay(FromMicroseconds(reply.RetryUs), _time, token).ConfigureAwait(false);
            return;
        }

        Task signal;
        lock (_lock)
        {
            // Marked taken before the version is read, with a full fence between, as SignalRelease increments the
            // version before it reads the mark: either this sees the release's version, or the release sees the mark.
            Volatile.Write(ref _releaseSignalTaken, true);
            Interlocked.MemoryBarrier();
            if (Volatile.Read(ref _releaseVersion) != version)
            {
                // A release came while the call was in flight: try again at once.
                _releaseSignalTaken = false;
                return;
            }

            signal = _releaseSignal.Task;
        }

        // Without a release message, the earliest held lease expires (is reclaimed) then.
        var until = reply.EarliestUs > 0 ? FromMicroseconds(reply.EarliestUs - reply.NowUs + 1) : _leaseTime;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
        var delay = Task.Delay(until, _time, cts.Token);
        var first = await Task.WhenAny(signal, delay).ConfigureAwait(false);
        await cts.CancelAsync().ConfigureAwait(false);
        token.ThrowIfCancellationRequested();
        if (first == delay)
        {
            await delay.ConfigureAwait(false);
        }
    }

    private void Cancel(Waiter waiter, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!waiter.Queued)
            {
                return;
            }

            _queue.Remove(waiter);
            AssertInvariants();
        }

        waiter.TrySetCanceled(cancellationToken);
    }

    private async Task<Reply> CallAcquireAsync(int permitCount, string member, CancellationToken cancellationToken)
    {
        var charge = TakeCharge();
        CountRoundTrip("acquire");
        var arguments = AcquireArguments(permitCount, member, charge);
        RedisResult result;
        while (true)
        {
            Task<RedisResult> call;
            try
            {
                call = SendAsync(RedisScripts.AcquireScript, arguments);
            }
            catch
            {
                RestoreCharge(charge);
                RequeueReleases(arguments);
                throw;
            }

            try
            {
                result = await call.WaitAsync(_operationTimeout, _time, cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (Exception ex) when (RedisScript.IsUnknown(ex) && Forget(RedisScripts.AcquireScript))
            {
                // The script did not run: send its text, which loads it again.
                CountRoundTrip("acquire");
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
                // The call may still run on the server: give back what it grants, and observe its fault. The releases it
                // carried are sent again (a second release of a lease frees nothing more).
                Track(ObserveLateAsync(call, permitCount, member));
                RestoreCharge(charge);
                RequeueReleases(arguments);
                throw;
            }
            catch
            {
                RestoreCharge(charge);
                RequeueReleases(arguments);
                throw;
            }
        }

        Loaded(RedisScripts.AcquireScript);
        return OnReply(Reply.Parse(result), permitCount);
    }

    /// <summary>Sends a script by its digest once this limiter has seen it run (so the server has it), else by its text.</summary>
    private Task<RedisResult> SendAsync(RedisScript script, RedisValue[] arguments) =>
        (Volatile.Read(ref _loadedScripts) & script.Bit) != 0
            ? _database.ScriptEvaluateAsync(script.Hash, _keys, arguments)
            : _database.ScriptEvaluateAsync(script.Text, _keys, arguments);

    /// <summary><see cref="SendAsync"/>, synchronously, sending the text again when the server no longer knows the digest.</summary>
    private RedisResult Evaluate(RedisScript script, RedisValue[] arguments)
    {
        RedisResult result;
        try
        {
            result = (Volatile.Read(ref _loadedScripts) & script.Bit) != 0
                ? _database.ScriptEvaluate(script.Hash, _keys, arguments)
                : _database.ScriptEvaluate(script.Text, _keys, arguments);
        }
        catch (Exception ex) when (RedisScript.IsUnknown(ex) && Forget(script))
        {
            CountRoundTrip("acquire");
            result = _database.ScriptEvaluate(script.Text, _keys, arguments);
        }

        Loaded(script);
        return result;
    }

    /// <summary>A script call of the release or renew loop: bounded by the operation timeout, sent again by text when the server no longer knows the digest.</summary>
    private async Task<RedisResult> EvaluateAsync(RedisScript script, RedisValue[] arguments, string operation)
    {
        RedisResult result;
        try
        {
            result = await SendAsync(script, arguments).WaitAsync(_operationTimeout, _time).ConfigureAwait(false);
        }
        catch (Exception ex) when (RedisScript.IsUnknown(ex) && Forget(script))
        {
            CountRoundTrip(operation);
            result = await SendAsync(script, arguments).WaitAsync(_operationTimeout, _time).ConfigureAwait(false);
        }

        Loaded(script);
        return result;
    }

    private void Loaded(RedisScript script)
    {
        if ((Volatile.Read(ref _loadedScripts) & script.Bit) == 0)
        {
            Interlocked.Or(ref _loadedScripts, script.Bit);
        }
    }

    /// <summary>Sends the script by its text from now on; true when it was sent by digest (so sending it again may help).</summary>
    private bool Forget(RedisScript script) => (Interlocked.And(ref _loadedScripts, ~script.Bit) & script.Bit) != 0;

    private RedisValue[] AcquireArguments(int permitCount, string member, int charge)
    {
        var nowUs = _clientClock ? ClientNowUs() : -1;
        long deadline = 0;
        if (Volatile.Read(ref _haveOffset))
        {
            // Read without the lock: the offset is one long, written whole; any recent reply's offset will do.
            deadline = MonotonicUs() + Volatile.Read(ref _serverOffsetUs) + (_operationTimeout.Ticks / 10);
        }

        if (_maxConcurrency == 0 || Volatile.Read(ref _queuedReleases) == 0)
        {
            // No release to carry (the common case of a rate limit), without the lock: one queued concurrently goes
            // with the next call or the release loop.
            return [permitCount, _intervalUs, _burst, _maxConcurrency, member, _leaseUs, nowUs, deadline, charge];
        }

        lock (_lock)
        {
            var count = Math.Min(_releases.Count, MaxReleaseBatch);
            var arguments = new RedisValue[AcquireArgumentCount + (count == 0 ? 0 : 1 + (2 * count))];
            arguments[0] = permitCount;
            arguments[1] = _intervalUs;
            arguments[2] = _burst;
            arguments[3] = _maxConcurrency;
            arguments[4] = member;
            arguments[5] = _leaseUs;
            arguments[6] = nowUs;
            arguments[7] = deadline;
            arguments[8] = charge;
            if (count > 0)
            {
                arguments[AcquireArgumentCount] = _channelName;
                TakeReleases(arguments, AcquireArgumentCount + 1, count);
            }

            return arguments;
        }
    }

    /// <summary>Moves the first <paramref name="count"/> queued releases into the arguments at <paramref name="start"/> (member, count pairs). Under the lock.</summary>
    private void TakeReleases(RedisValue[] arguments, int start, int count)
    {
        for (var i = 0; i < count; i++)
        {
            arguments[start + (2 * i)] = _releases[i].Member;
            arguments[start + (2 * i) + 1] = _releases[i].Count;
        }

        _releases.RemoveRange(0, count);
        _queuedReleases = _releases.Count;
        AssertInvariants();
    }

    /// <summary>Queues again the releases a failed acquire call carried, for the release loop.</summary>
    private void RequeueReleases(RedisValue[]? arguments)
    {
        if (arguments is null || arguments.Length <= AcquireArgumentCount)
        {
            return;
        }

        var start = false;
        lock (_lock)
        {
            for (var i = AcquireArgumentCount + 1; i + 1 < arguments.Length; i += 2)
            {
                start |= EnqueueRelease(new RedisLease(this, (string)arguments[i]!, (int)arguments[i + 1]));
            }
        }

        if (start)
        {
            Track(ReleaseLoopAsync());
        }
    }

    private async Task ObserveLateAsync(Task<RedisResult> call, int permitCount, string member)
    {
        try
        {
            var reply = Reply.Parse(await call.ConfigureAwait(false));
            if (reply.Status == RedisScripts.Granted && permitCount > 0 && _maxConcurrency > 0)
            {
                bool start;
                lock (_lock)
                {
                    start = EnqueueRelease(new RedisLease(this, member, permitCount));
                }

                if (start)
                {
                    Track(ReleaseLoopAsync());
                }
            }
        }
#pragma warning disable CA1031 // A late failure was already handled as a timeout.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private Reply OnReply(Reply reply, int permitCount)
    {
        if (reply.Status == RedisScripts.Granted)
        {
            _grantObserver?.Invoke(reply.NowUs, permitCount);
        }

        // Without the lock: each of these is one value written whole, and any recent reply's will do.
        Volatile.Write(ref _serverOffsetUs, reply.NowUs - MonotonicUs());
        Volatile.Write(ref _haveOffset, true);
        var recovered = false;
        if (reply.Status != RedisScripts.Stale)
        {
            var available = reply.Tokens >= 0 ? reply.Tokens : long.MaxValue;
            if (_maxConcurrency > 0)
            {
                available = Math.Min(available, _maxConcurrency - reply.Held);
            }

            Volatile.Write(ref _available, Math.Max(0, Math.Min(available, PermitLimit)));
            if (Volatile.Read(ref _faulted))
            {
                lock (_lock)
                {
                    recovered = _faulted;
                    _faulted = false;
                }
            }
        }

        if (recovered)
        {
            RedisRateLimiterLog.Recovered(_logger, _key);
        }

        if (reply.Released > 0)
        {
            SignalRelease();
        }

        return reply;
    }

    /// <summary>Queues a lease for the release loop; true when the caller must start the loop (none runs). Under the lock.</summary>
    private bool EnqueueRelease(RedisLease lease)
    {
        _releases.Add(lease);
        _queuedReleases = _releases.Count;
        var start = !_releasing;
        _releasing = true;
        AssertInvariants();
        return start;
    }

    /// <summary>
    /// Sends the queued releases, at most <see cref="MaxReleaseBatch"/> per script call and one call at a time, until
    /// none is left (an acquire call may take them first): under load the releases that come while a call is in flight
    /// share the next call, so a grant costs less than two round trips; alone, a release is sent at once as before. A lease waiting here is no longer renewed;
    /// its permits are only held a little longer (never fewer than the truth), and Redis reclaims them after the lease
    /// time if the call fails.
    /// </summary>
    private async Task ReleaseLoopAsync()
    {
        while (true)
        {
            RedisValue[] arguments;
            lock (_lock)
            {
                if (_releases.Count == 0)
                {
                    _releasing = false;
                    AssertInvariants();
                    return;
                }

                var count = Math.Min(_releases.Count, MaxReleaseBatch);
                arguments = new RedisValue[1 + (2 * count)];
                arguments[0] = _channelName;
                TakeReleases(arguments, 1, count);
            }

            await ReleaseAsync(arguments).ConfigureAwait(false);
        }
    }

    private async Task ReleaseAsync(RedisValue[] arguments)
    {
        try
        {
            CountRoundTrip("release");
            var result = await EvaluateAsync(RedisScripts.ReleaseScript, arguments, "release").ConfigureAwait(false);
            if ((long)result > 0)
            {
                SignalRelease();
            }
        }
#pragma warning disable CA1031 // A failed release is reclaimed by Redis after the lease time.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            RedisRateLimiterMetrics.Faults.Add(1, _keyTag);
            RedisRateLimiterLog.ReleaseFailed(_logger, _key, ex);
        }
    }

    private void OnRenewTimer()
    {
        RedisValue[] arguments;
        lock (_lock)
        {
            if (_closed || _renewing || _held.Count == 0)
            {
                return;
            }

            _renewing = true;
            arguments = new RedisValue[_held.Count + 2];
            arguments[0] = _leaseUs;
            arguments[1] = _clientClock ? ClientNowUs() : -1;
            var i = 2;
            foreach (var lease in _held)
            {
                arguments[i++] = lease.Member;
            }
        }

        Track(RenewAsync(arguments));
    }

    private async Task RenewAsync(RedisValue[] arguments)
    {
        try
        {
            CountRoundTrip("renew");
            var result = await EvaluateAsync(RedisScripts.RenewScript, arguments, "renew").ConfigureAwait(false);
            var lost = (RedisResult[])result!;
            if (lost.Length > 0)
            {
                // Reclaimed while this process was cut off: stop renewing them (their release is then a no-op).
                var members = lost.Select(static m => (string)m!).ToHashSet(StringComparer.Ordinal);
                lock (_lock)
                {
                    _held.RemoveWhere(lease => members.Contains(lease.Member));
                }

                RedisRateLimiterLog.LeaseLost(_logger, _key, lost.Length);
            }
        }
#pragma warning disable CA1031 // Renewal is retried at the next tick; the lease time covers the gap.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            RedisRateLimiterMetrics.Faults.Add(1, _keyTag);
            RedisRateLimiterLog.RenewFailed(_logger, _key, ex);
        }
        finally
        {
            lock (_lock)
            {
                _renewing = false;
            }
        }
    }

    private async Task SubscribeAsync()
    {
        try
        {
            await _multiplexer.GetSubscriber().SubscribeAsync(_channel, _onReleased!).WaitAsync(_operationTimeout, _time).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Without notifications, waiters wake at the earliest lease expiry.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            RedisRateLimiterLog.SubscribeFailed(_logger, _key, ex);
        }
    }

    private async Task UnsubscribeAsync()
    {
        try
        {
            await _multiplexer.GetSubscriber().UnsubscribeAsync(_channel, _onReleased).WaitAsync(_operationTimeout, _time).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Best effort at close: the multiplexer may be gone already.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private void SignalRelease()
    {
        // Without the lock when no one waits (nearly every release under load): the version is incremented with a full
        // fence before the mark is read (see WaitAsync).
        Interlocked.Increment(ref _releaseVersion);
        if (!Volatile.Read(ref _releaseSignalTaken))
        {
            // No one waits for this signal: keep it for the next waiter (the version tells a pump that was in flight).
            return;
        }

        TaskCompletionSource signal;
        lock (_lock)
        {
            if (!_releaseSignalTaken)
            {
                return;
            }

            signal = _releaseSignal;
            _releaseSignal = NewSignal();
            _releaseSignalTaken = false;
        }

        signal.TrySetResult();
    }

    /// <summary>The reason Redis is not asked now (not connected, or a fault less than an operation timeout ago), or <see langword="null"/>.</summary>
    private string? CurrentFault()
    {
        if (!_multiplexer.IsConnected)
        {
            return EnterFault(null, "the multiplexer is not connected");
        }

        if (!Volatile.Read(ref _faulted))
        {
            // The common case, without the lock: a fault entered concurrently is seen by the next call.
            return null;
        }

        lock (_lock)
        {
            return _faulted && _time.GetTimestamp() < _faultUntil ? _faultReason : null;
        }
    }

    private string EnterFault(Exception? exception, string? reason = null)
    {
        reason ??= exception switch
        {
            null => "Redis answered after the operation timeout",
            TimeoutException => $"Redis did not answer within {_operationTimeout}",
            _ => $"{exception.GetType().Name}: {exception.Message}",
        };
        reason = $"Redis is unavailable: {reason}";
        bool first;
        lock (_lock)
        {
            first = !_faulted;
            _faulted = true;
            _faultReason = reason;
            _faultUntil = _time.GetTimestamp() + (long)(_operationTimeout.TotalSeconds * _time.TimestampFrequency);
        }

        if (exception is not null || first)
        {
            RedisRateLimiterMetrics.Faults.Add(1, _keyTag);
        }

        if (first)
        {
            RedisRateLimiterLog.Unavailable(_logger, _key, reason, _policy, exception);
        }

        return reason;
    }

    /// <summary>Applies the fault policy to every queued waiter.</summary>
    private void FailQueue(string reason)
    {
        Waiter? waiters;
        lock (_lock)
        {
            waiters = TakeAll();
        }

        while (waiters is not null)
        {
            var waiter = waiters;
            waiters = waiter.Next;
            waiter.Next = null;
            if (_local is null)
            {
                waiter.TrySetResult(Reject(null, reason));
            }
            else
            {
                Track(ForwardToLocalAsync(waiter, reason));
            }
        }
    }

    private async Task ForwardToLocalAsync(Waiter waiter, string reason)
    {
        try
        {
            waiter.TrySetResult(await AcquireLocallyAsync(waiter.Count, reason, waiter.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (waiter.Token.IsCancellationRequested)
        {
            waiter.TrySetCanceled(waiter.Token);
        }
#pragma warning disable CA1031 // The waiter gets the failure.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            waiter.TrySetException(ex);
        }
    }

    private async ValueTask<RateLimitLease> AcquireOnFaultAsync(int permitCount, string reason, CancellationToken cancellationToken) =>
        _local is null
            ? Reject(null, reason)
            : await AcquireLocallyAsync(permitCount, reason, cancellationToken).ConfigureAwait(false);

    private async ValueTask<RateLimitLease> AcquireLocallyAsync(int permitCount, string reason, CancellationToken cancellationToken)
    {
        if (permitCount > _localPermitLimit)
        {
            return Reject(null, reason);
        }

        var lease = await _local!.AcquireAsync(permitCount, cancellationToken).ConfigureAwait(false);
        return OnLocalLease(permitCount, lease, reason);
    }

    private RateLimitLease AttemptOnFault(int permitCount, string reason) =>
        _local is null || permitCount > _localPermitLimit
            ? Reject(null, reason)
            : OnLocalLease(permitCount, _local.AttemptAcquire(permitCount), reason);

    private RateLimitLease OnLocalLease(int permitCount, RateLimitLease lease, string reason)
    {
        if (!lease.IsAcquired)
        {
            lock (_lock)
            {
                _failedCount++;
            }

            RedisRateLimiterMetrics.Leases.Add(1, new("outcome", "rejected"), _keyTag);
            return lease;
        }

        lock (_lock)
        {
            _successful++;
            // Charged to the shared budget on the next call that reaches Redis, so the switch back adds no burst.
            _toCharge = Math.Min(_toCharge + permitCount, _burst);
        }

        RedisRateLimiterMetrics.Leases.Add(1, new("outcome", "failover"), _keyTag);
        return new FailoverLease(lease, reason);
    }

    private int TakeCharge()
    {
        if (_intervalUs == 0 || Volatile.Read(ref _toCharge) == 0)
        {
            // Nothing to charge (the common case), without the lock: a charge added concurrently goes with the next call.
            return 0;
        }

        lock (_lock)
        {
            var charge = _toCharge;
            _toCharge = 0;
            return charge;
        }
    }

    private void RestoreCharge(int charge)
    {
        if (charge == 0)
        {
            return;
        }

        lock (_lock)
        {
            _toCharge = Math.Min(_toCharge + charge, _burst);
        }
    }

    private RateLimitLease Grant(int permitCount, string member)
    {
        RateLimitLease lease = permitCount == 0 || _maxConcurrency == 0
            ? SuccessfulLease.Instance
            : new RedisLease(this, member, permitCount);
        lock (_lock)
        {
            _successful++;
            if (lease is RedisLease held)
            {
                _held.Add(held);
            }
            else
            {
                _idleSince = _time.GetTimestamp();
            }
        }

        RedisRateLimiterMetrics.Leases.Add(1, new("outcome", "granted"), _keyTag);
        return lease;
    }

    private RejectedLease Reject(TimeSpan? retryAfter, string? reason)
    {
        lock (_lock)
        {
            _failedCount++;
        }

        RedisRateLimiterMetrics.Leases.Add(1, new("outcome", reason is null ? "rejected" : "fault_rejected"), _keyTag);
        return retryAfter is null && reason is null ? RejectedLease.WithoutMetadata : new RejectedLease(retryAfter, reason);
    }

    /// <summary>When a rejected request could be served: the script's wait for its permits, plus the waiters served before it.</summary>
    private TimeSpan? RetryAfter(Reply reply, int queuedAhead) =>
        reply.Status == RedisScripts.RateShort ? FromMicroseconds(reply.RetryUs + (queuedAhead * _intervalUs)) : null;

    /// <summary>An estimate without a call: the rate's time for the queued permits and these.</summary>
    private TimeSpan? EstimateRetryAfter(int permitCount) =>
        _intervalUs > 0 ? FromMicroseconds(((double)_queue.PermitCount + Math.Max(permitCount, 1)) * _intervalUs) : null;

    private string NewMember(int permitCount) =>
        _maxConcurrency == 0 || permitCount == 0
            ? string.Empty
            : $"{permitCount}:{_instance}:{Interlocked.Increment(ref _leaseSequence)}";

    private void CountRoundTrip(string operation)
    {
        Interlocked.Increment(ref _roundTrips);
        RedisRateLimiterMetrics.RoundTrips.Add(1, new("operation", operation), _keyTag);
    }

    private long ClientNowUs() => (_time.GetUtcNow().UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;

    private long MonotonicUs() => (long)(_time.GetTimestamp() * (1e6 / _time.TimestampFrequency));

    private void ValidatePermitCount(int permitCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(permitCount);
        if (permitCount > PermitLimit)
        {
            throw new ArgumentOutOfRangeException(
                nameof(permitCount), permitCount, $"{permitCount} permit(s) exceed the limiter's limit of {PermitLimit}.");
        }
    }

    private void Track(Task task)
    {
        if (task.IsCompleted)
        {
            _ = task.Exception;
            return;
        }

        lock (_lock)
        {
            _background++;
        }

        _ = ObserveAsync(task);
    }

    private async Task ObserveAsync(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Background work reports its own failures; this only keeps the count.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
        finally
        {
            TaskCompletionSource? drained = null;
            lock (_lock)
            {
                if (--_background == 0)
                {
                    drained = _drained;
                }
            }

            drained?.TrySetResult();
        }
    }

    private Waiter? Next() => _queue.Next(_order);

    /// <summary>Removes every queued waiter and returns them as a chain through <see cref="QueuedWaiter{TWaiter}.Next"/>. Under the lock.</summary>
    private Waiter? TakeAll()
    {
        var first = _queue.TakeAll();
        AssertInvariants();
        return first;
    }

    [Conditional("DEBUG")]
    private void AssertInvariants()
    {
        Debug.Assert(_queue.IsConsistent(), "Every queued waiter is marked queued, and the queued permits are the sum of their counts.");
        Debug.Assert(_queue.IsEmpty || _pumping || _closed, "A pump runs whenever the queue is not empty.");
        Debug.Assert(_releases.Count == 0 || _releasing, "A release loop runs whenever a release is queued.");
    }

    /// <summary>One parsed reply of <see cref="RedisScripts.Acquire"/>.</summary>
    private readonly record struct Reply(long Status, long NowUs, long RetryUs, long Held, long Tokens, long EarliestUs, long Released)
    {
        public static Reply Parse(RedisResult result)
        {
            var values = (RedisResult[])result!;
            return new Reply(
                (long)values[0], (long)values[1], (long)values[2], (long)values[3], (long)values[4], (long)values[5], values.Length > 6 ? (long)values[6] : 0);
        }
    }

    private sealed class Waiter(RedisLimiterCore owner, int count, CancellationToken token) : QueuedWaiter<Waiter>(count)
    {
        public RedisLimiterCore Owner { get; } = owner;

        public CancellationToken Token { get; } = token;
    }
}
