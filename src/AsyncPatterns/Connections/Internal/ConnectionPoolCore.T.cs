using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AsyncPatterns.Connections.Internal;

/// <summary>
/// The pool. One lock guards the counts, the idle stack and the FIFO of waiters; hooks (create, validate, reset,
/// destroy) always run outside it. Invariants, all under the lock:
/// <list type="bullet">
/// <item>idle + busy + creating + destroying ≤ MaxSize: a retired connection keeps its slot until its destroy hook has finished, so the server never sees more than MaxSize connections;</item>
/// <item>waiters are only queued while no connection is idle (a returned connection goes to the first waiter, never back to the stack), so a new caller never overtakes a waiter;</item>
/// <item>a waiter is granted either a connection or a reserved slot to create one in, and it leaves the queue when granted or cancelled, so cancellation consumes nothing.</item>
/// </list>
/// Background work (refilling MinSize, destroying retired connections) is counted and awaited by <see cref="DisposeAsync"/>; its failures are logged.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "The pool is IAsyncDisposable through AsyncConnectionPool; _shutdown has no timer and is only cancelled, never disposed, because late background work may still read its token.")]
internal sealed class ConnectionPoolCore<TConnection> : IConnectionPoolMetricsSource
{
    private readonly Lock _lock = new();
    private readonly Func<CancellationToken, ValueTask<TConnection>> _create;
    private readonly Func<TConnection, CancellationToken, ValueTask<bool>>? _validate;
    private readonly Func<TConnection, CancellationToken, ValueTask>? _reset;
    private readonly Func<TConnection, ValueTask>? _destroy;
    private readonly int _minSize;
    private readonly int _maxSize;
    private readonly TimeSpan _acquireTimeout;
    private readonly TimeSpan _leakThreshold;
    private readonly TimeSpan _drainTimeout;
    private readonly long _idleTimeoutTicks;
    private readonly long _maxLifetimeTicks;
    private readonly long _validateAfterIdleTicks;
    private readonly long _leakThresholdTicks;
    private readonly double _jitter;
    private readonly Func<double> _randomizer;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ITimer _housekeeper;
    private readonly CancellationTokenSource _shutdown = new();

    private readonly List<PoolEntry<TConnection>> _idle = [];
    private readonly List<PoolEntry<TConnection>> _all = [];
    private readonly LinkedList<Waiter> _waiters = new();

    private int _busy;
    private int _creating;
    private int _destroying;
    private int _generation;
    private int _background;
    private long _created;
    private long _destroyed;
    private long _timeouts;
    private bool _disposed;
    private bool _refilling;
    private TaskCompletionSource? _drained;
    private TaskCompletionSource? _backgroundDone;
    private TaskCompletionSource? _disposeCompletion;

    public ConnectionPoolCore(ConnectionPoolOptions<TConnection> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();

        Name = options.Name;
        PoolNameTag = new KeyValuePair<string, object?>(ConnectionPoolMetrics.PoolNameAttribute, Name);
        _create = options.CreateAsync!;
        _validate = options.ValidateAsync;
        _reset = options.ResetAsync;
        _destroy = options.DestroyAsync;
        _minSize = options.MinSize;
        _maxSize = options.MaxSize;
        _acquireTimeout = options.AcquireTimeout;
        _leakThreshold = options.LeakDetectionThreshold;
        _drainTimeout = options.DrainTimeout;
        _jitter = options.MaxLifetimeJitter;
        _randomizer = options.Randomizer;
        _time = options.TimeProvider;
        _logger = options.LoggerFactory?.CreateLogger("AsyncPatterns.Connections.AsyncConnectionPool") ?? NullLogger.Instance;
        _idleTimeoutTicks = ToTimestampTicks(options.IdleTimeout);
        _maxLifetimeTicks = ToTimestampTicks(options.MaxLifetime);
        _validateAfterIdleTicks = _validate is null ? long.MaxValue : ToTimestampTicks(options.ValidateAfterIdle);
        _leakThresholdTicks = ToTimestampTicks(options.LeakDetectionThreshold);

        var period = HousekeepingPeriod(options);
        _housekeeper = _time.CreateTimer(static state => ((ConnectionPoolCore<TConnection>)state!).Housekeep(), this, period, period);
        ConnectionPoolMetrics.Register(this);

        lock (_lock)
        {
            ScheduleRefill_Locked();
        }
    }

    public string Name { get; }

    public KeyValuePair<string, object?> PoolNameTag { get; }

    public int MaxSize => _maxSize;

    /// <summary>Every connection that holds a slot: idle, leased, being created, or retired and still being destroyed.</summary>
    private int Total => _idle.Count + _busy + _creating + _destroying;

    /// <summary>The connections that count towards MinSize: idle, leased or being created.</summary>
    private int Open => _idle.Count + _busy + _creating;

    /// <summary>The exception of an acquire that the pool's disposal ended.</summary>
    private ObjectDisposedException DisposedException() => new(GetType().Name, $"The connection pool '{Name}' was disposed.");

    public ConnectionPoolStatistics Statistics
    {
        get
        {
            lock (_lock)
            {
                return new ConnectionPoolStatistics(_idle.Count, _busy, _creating, _destroying, _waiters.Count, _created, _destroyed, _timeouts);
            }
        }
    }

    public (int Idle, int Used, int Pending) Snapshot()
    {
        lock (_lock)
        {
            return (_idle.Count, _busy, _waiters.Count);
        }
    }

    public ValueTask<PooledConnection<TConnection>> AcquireAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<PooledConnection<TConnection>>(cancellationToken);
        }

        var now = _time.GetTimestamp();
        PoolEntry<TConnection>? entry = null;
        List<PoolEntry<TConnection>>? retired = null;
        Waiter? waiter = null;
        var create = false;
        var generation = 0;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_waiters.Count == 0)
            {
                entry = TakeIdle_Locked(now, ref retired);
                if (entry is null && Total < _maxSize)
                {
                    _creating++;
                    create = true;
                    generation = _generation;
                }
            }

            if (entry is null && !create)
            {
                waiter = new Waiter();
                waiter.Node = _waiters.AddLast(waiter);
            }
        }

        if (retired is not null)
        {
            DestroyInBackground(retired);
        }

        if (entry is not null && !NeedsValidation(entry, now))
        {
            return new ValueTask<PooledConnection<TConnection>>(Lease(entry, now, now));
        }

        return AcquireSlowAsync(entry, waiter, create, generation, now, cancellationToken);
    }

    public bool Invalidate(PoolEntry<TConnection> entry, int version)
    {
        lock (_lock)
        {
            if (Volatile.Read(ref entry.Version) != version)
            {
                return false;
            }

            entry.Invalidated = true;
            return true;
        }
    }

    public ValueTask ReturnAsync(PoolEntry<TConnection> entry, int version)
    {
        if (Interlocked.CompareExchange(ref entry.Version, unchecked(version + 1), version) != version)
        {
            return default;
        }

        var now = _time.GetTimestamp();
        if (ConnectionPoolMetrics.UseTime.Enabled)
        {
            ConnectionPoolMetrics.UseTime.Record(Seconds(entry.LeasedAt, now), PoolNameTag);
        }

        var destroy = entry.Invalidated || now >= entry.ExpiresAt || entry.Generation != Volatile.Read(ref _generation) || Volatile.Read(ref _disposed);
        if (!destroy && _reset is not null)
        {
            return ResetAndReturnAsync(entry);
        }

        return FinishReturnAsync(entry, destroy, now);
    }

    public void Clear()
    {
        List<PoolEntry<TConnection>>? retired = null;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _generation++;
            foreach (var entry in _idle)
            {
                Retire_Locked(entry, ref retired);
            }

            _idle.Clear();
        }

        if (retired is not null)
        {
            DestroyInBackground(retired);
        }
    }

    public ValueTask DisposeAsync()
    {
        TaskCompletionSource completion;
        lock (_lock)
        {
            if (_disposeCompletion is not null)
            {
                return new ValueTask(_disposeCompletion.Task);
            }

            _disposed = true;
            _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _backgroundDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _disposeCompletion = completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        return RunDisposeAsync(completion);
    }

    private async ValueTask RunDisposeAsync(TaskCompletionSource completion)
    {
        try
        {
            await DisposeCoreAsync().ConfigureAwait(false);
            completion.TrySetResult();
        }
        catch (Exception ex)
        {
            completion.TrySetException(ex);
            throw;
        }
    }

    private async Task DisposeCoreAsync()
    {
        List<PoolEntry<TConnection>>? idle = null;
        List<Waiter> waiters;
        lock (_lock)
        {
            waiters = [.. _waiters];
            _waiters.Clear();
            foreach (var entry in _idle)
            {
                Retire_Locked(entry, ref idle);
            }

            _idle.Clear();
            CheckDrained_Locked();
        }

        await _housekeeper.DisposeAsync().ConfigureAwait(false);
        await _shutdown.CancelAsync().ConfigureAwait(false);
        foreach (var waiter in waiters)
        {
            waiter.TrySetException(new ObjectDisposedException(GetType().Name, $"The connection pool '{Name}' was disposed while waiting for a connection."));
        }

        if (Interlocked.CompareExchange(ref _background, 0, 0) == 0)
        {
            _backgroundDone!.TrySetResult();
        }

        var destroyIdle = DestroyAllAsync(idle);
        var drained = _drained!.Task;
        try
        {
            await drained.WaitAsync(_drainTimeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Leases still out after DrainTimeout are reclaimed: their leases die and the connections are destroyed.
        }

        List<PoolEntry<TConnection>>? reclaimed = null;
        lock (_lock)
        {
            foreach (var entry in _all.ToArray())
            {
                if (entry.State == PoolEntryState.Busy)
                {
                    Interlocked.Increment(ref entry.Version);
                    Retire_Locked(entry, ref reclaimed);
                }
            }

            CheckDrained_Locked();
        }

        if (reclaimed is not null)
        {
            ConnectionPoolLog.DrainTimedOut(_logger, Name, _drainTimeout, reclaimed.Count);
        }

        // Destroy hooks get their own DrainTimeout, so disposal takes at most about twice the drain timeout.
        var cleanup = Task.WhenAll(destroyIdle, DestroyAllAsync(reclaimed), _backgroundDone!.Task);
        try
        {
            await cleanup.WaitAsync(_drainTimeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            ConnectionPoolLog.CleanupTimedOut(_logger, Name, _drainTimeout);
        }
        finally
        {
            ConnectionPoolMetrics.Unregister(this);
        }
    }

    private async ValueTask<PooledConnection<TConnection>> AcquireSlowAsync(
        PoolEntry<TConnection>? entry, Waiter? waiter, bool create, int generation, long start, CancellationToken cancellationToken)
    {
        using var timeout = _acquireTimeout == Timeout.InfiniteTimeSpan ? null : new CancellationTokenSource(_acquireTimeout, _time);
        using var linked = timeout is null || !cancellationToken.CanBeCanceled ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var token = linked?.Token ?? timeout?.Token ?? cancellationToken;
        try
        {
            if (waiter is not null)
            {
                using (token.UnsafeRegister(static (state, canceledToken) => ((Waiter)state!).Pool!.CancelWaiter((Waiter)state!, canceledToken), SetPool(waiter)))
                {
                    entry = await waiter.Task.ConfigureAwait(false);
                }

                if (token.IsCancellationRequested)
                {
                    // Granted in the same instant the caller gave up: hand the grant on, so cancellation consumes nothing.
                    await GiveBackAsync(entry).ConfigureAwait(false);
                    token.ThrowIfCancellationRequested();
                }

                if (entry is null)
                {
                    create = true;
                    generation = waiter.Generation;
                }
                else
                {
                    return Lease(entry, _time.GetTimestamp(), start);
                }
            }

            while (true)
            {
                if (create)
                {
                    entry = await CreateForCallerAsync(generation, token).ConfigureAwait(false);
                    return Lease(entry, _time.GetTimestamp(), start);
                }

                var now = _time.GetTimestamp();
                if (!NeedsValidation(entry!, now) || await ValidateAsync(entry!, token).ConfigureAwait(false))
                {
                    return Lease(entry!, _time.GetTimestamp(), start);
                }

                // The idle connection failed validation: destroy it and, keeping this caller's turn, take the next idle
                // connection or, once the failed one is closed, create a new one in its slot.
                var failed = entry!;
                var replace = false;
                List<PoolEntry<TConnection>>? retired = null;
                List<PoolEntry<TConnection>>? others = null;
                lock (_lock)
                {
                    Retire_Locked(failed, ref retired);
                    if (_disposed)
                    {
                        CheckDrained_Locked();
                        entry = null;
                    }
                    else
                    {
                        entry = TakeIdle_Locked(_time.GetTimestamp(), ref others);
                        replace = entry is null;
                    }
                }

                if (others is not null)
                {
                    DestroyInBackground(others);
                }

                if (!replace)
                {
                    DestroyInBackground(retired!);
                    if (entry is null)
                    {
                        throw DisposedException();
                    }

                    continue;
                }

                await DestroyConnectionAsync(failed.Connection).ConfigureAwait(false);
                lock (_lock)
                {
                    // The failed connection's slot passes straight to this caller, ahead of any waiter.
                    _destroying--;
                    if (_disposed)
                    {
                        throw DisposedException();
                    }

                    _creating++;
                    create = true;
                    generation = _generation;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
        catch (OperationCanceledException) when (timeout is not null && timeout.IsCancellationRequested)
        {
            Interlocked.Increment(ref _timeouts);
            ConnectionPoolMetrics.Timeouts.Add(1, PoolNameTag);
            throw new ConnectionPoolTimeoutException(Name, _maxSize, _acquireTimeout);
        }
    }

    private ValueTask GiveBackAsync(PoolEntry<TConnection>? entry)
    {
        if (entry is not null)
        {
            return FinishReturnAsync(entry, destroy: false, _time.GetTimestamp());
        }

        lock (_lock)
        {
            _creating--;
            AfterSlotsFreed_Locked();
            CheckDrained_Locked();
        }

        return default;
    }

    private Waiter SetPool(Waiter waiter)
    {
        waiter.Pool = this;
        return waiter;
    }

    private void CancelWaiter(Waiter waiter, CancellationToken token)
    {
        lock (_lock)
        {
            if (waiter.Node?.List is null)
            {
                return; // already granted (or failed by disposal): the grant stands and the caller handles it
            }

            _waiters.Remove(waiter.Node);
            waiter.TrySetCanceled(token);
        }
    }

    private async ValueTask<PoolEntry<TConnection>> CreateForCallerAsync(int generation, CancellationToken token)
    {
        var started = _time.GetTimestamp();
        TConnection connection;
        try
        {
            connection = await _create(token).ConfigureAwait(false);
        }
        catch
        {
            lock (_lock)
            {
                _creating--;
                AfterSlotsFreed_Locked();
                CheckDrained_Locked();
            }

            throw;
        }

        var now = _time.GetTimestamp();
        RecordCreateTime(started, now);
        PoolEntry<TConnection>? entry = null;
        lock (_lock)
        {
            _creating--;
            _created++;
            if (_disposed)
            {
                _destroyed++;
                CheckDrained_Locked();
            }
            else
            {
                entry = NewEntry_Locked(connection, now, generation);
                entry.State = PoolEntryState.Busy;
                _busy++;
            }
        }

        if (entry is null)
        {
            await DestroyConnectionAsync(connection).ConfigureAwait(false);
            throw DisposedException();
        }

        return entry;
    }

    private async ValueTask<bool> ValidateAsync(PoolEntry<TConnection> entry, CancellationToken token)
    {
        try
        {
            if (await _validate!(entry.Connection, token).ConfigureAwait(false))
            {
                return true;
            }

            ConnectionPoolLog.ValidateFailed(_logger, Name, null);
            return false;
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The caller gave up while the connection was being checked: the connection is not known to be bad, so it
            // goes back to the pool unchanged (still due for validation).
            await FinishReturnAsync(entry, destroy: false, entry.LastReturnedAt).ConfigureAwait(false);
            throw;
        }
        catch (Exception ex)
        {
            ConnectionPoolLog.ValidateFailed(_logger, Name, ex);
            return false;
        }
    }

    private async ValueTask ResetAndReturnAsync(PoolEntry<TConnection> entry)
    {
        var destroy = false;
        try
        {
            await _reset!(entry.Connection, _shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            ConnectionPoolLog.ResetFailed(_logger, Name, ex);
            destroy = true;
        }

        await FinishReturnAsync(entry, destroy, _time.GetTimestamp()).ConfigureAwait(false);
    }

    private ValueTask FinishReturnAsync(PoolEntry<TConnection> entry, bool destroy, long now)
    {
        lock (_lock)
        {
            if (entry.State != PoolEntryState.Busy)
            {
                return default; // reclaimed by DisposeAsync after its drain timeout
            }

            if (!destroy && !_disposed && entry.Generation == _generation && now < entry.ExpiresAt)
            {
                entry.LastReturnedAt = now;
                if (_waiters.Count > 0)
                {
                    GrantNext_Locked(entry); // stays busy: handed straight to the longest waiter
                }
                else
                {
                    entry.State = PoolEntryState.Idle;
                    _busy--;
                    _idle.Add(entry);
                }

                return default;
            }

            List<PoolEntry<TConnection>>? retired = null;
            Retire_Locked(entry, ref retired);
            CheckDrained_Locked();
        }

        return DestroyRetiredAsync(entry);
    }

    private PooledConnection<TConnection> Lease(PoolEntry<TConnection> entry, long now, long waitStart)
    {
        entry.LeasedAt = now;
        entry.Invalidated = false;
        entry.LeakReported = false;
        if (_leakThresholdTicks != long.MaxValue)
        {
            entry.AcquiredAt = new StackTrace(1, fNeedFileInfo: true).ToString();
        }

        if (ConnectionPoolMetrics.WaitTime.Enabled)
        {
            ConnectionPoolMetrics.WaitTime.Record(Seconds(waitStart, now), PoolNameTag);
        }

        return new PooledConnection<TConnection>(this, entry, Volatile.Read(ref entry.Version));
    }

    private bool NeedsValidation(PoolEntry<TConnection> entry, long now) =>
        _validateAfterIdleTicks != long.MaxValue && now - entry.LastReturnedAt >= _validateAfterIdleTicks;

    /// <summary>Pops the most recently returned usable idle connection and marks it busy; retires expired or cleared ones on the way.</summary>
    private PoolEntry<TConnection>? TakeIdle_Locked(long now, ref List<PoolEntry<TConnection>>? retired)
    {
        while (_idle.Count > 0)
        {
            var entry = _idle[^1];
            _idle.RemoveAt(_idle.Count - 1);
            if (now >= entry.ExpiresAt || entry.Generation != _generation)
            {
                Retire_Locked(entry, ref retired);
                continue;
            }

            entry.State = PoolEntryState.Busy;
            _busy++;
            return entry;
        }

        return null;
    }

    /// <summary>
    /// Moves a connection from idle or busy to destroying (the caller removes it from the idle stack and destroys it).
    /// Its slot stays taken until the destroy hook has finished (see <see cref="DestroyRetiredAsync"/>).
    /// </summary>
    private void Retire_Locked(PoolEntry<TConnection> entry, ref List<PoolEntry<TConnection>>? retired)
    {
        if (entry.State == PoolEntryState.Busy)
        {
            _busy--;
        }

        _destroying++;
        entry.State = PoolEntryState.Destroyed;
        _all.Remove(entry);
        _destroyed++;
        (retired ??= []).Add(entry);
    }

    /// <summary>Gives freed capacity to waiters first (as reserved slots to create in), then tops the pool up to MinSize.</summary>
    private void AfterSlotsFreed_Locked()
    {
        while (!_disposed && _waiters.Count > 0 && Total < _maxSize)
        {
            _creating++;
            GrantNext_Locked(null);
        }

        ScheduleRefill_Locked();
    }

    private void GrantNext_Locked(PoolEntry<TConnection>? entry)
    {
        var waiter = _waiters.First!.Value;
        _waiters.RemoveFirst();
        waiter.Generation = _generation;
        waiter.TrySetResult(entry);
    }

    private void CheckDrained_Locked()
    {
        if (_disposed && _busy == 0 && _creating == 0)
        {
            _drained?.TrySetResult();
        }
    }

    private PoolEntry<TConnection> NewEntry_Locked(TConnection connection, long now, int generation)
    {
        var expiresAt = long.MaxValue;
        if (_maxLifetimeTicks != long.MaxValue)
        {
            var random = Math.Clamp(_randomizer(), 0.0, 1.0);
            expiresAt = now + _maxLifetimeTicks - (long)(_maxLifetimeTicks * _jitter * random);
        }

        var entry = new PoolEntry<TConnection>(connection, now, expiresAt, generation);
        _all.Add(entry);
        return entry;
    }

    private void ScheduleRefill_Locked()
    {
        if (_disposed || _refilling || _minSize == 0)
        {
            return;
        }

        var missing = _minSize - Total;
        if (missing <= 0)
        {
            return;
        }

        _refilling = true;
        _creating += missing;
        var generation = _generation;
        RunInBackground(() => RefillAsync(missing, generation));
    }

    private async Task RefillAsync(int count, int generation)
    {
        var done = 0;
        try
        {
            for (; done < count; done++)
            {
                var started = _time.GetTimestamp();
                TConnection connection;
                try
                {
                    connection = await _create(_shutdown.Token).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    if (!_shutdown.IsCancellationRequested)
                    {
                        ConnectionPoolLog.CreateFailed(_logger, Name, ex);
                    }

                    lock (_lock)
                    {
                        _creating -= count - done;
                        done = count;
                        _refilling = false;
                        CheckDrained_Locked();

                        // Waiters get the freed slots to try themselves; the pool itself retries at the next housekeeping pass.
                        while (!_disposed && _waiters.Count > 0 && Total < _maxSize)
                        {
                            _creating++;
                            GrantNext_Locked(null);
                        }
                    }

                    return;
                }

                var now = _time.GetTimestamp();
                RecordCreateTime(started, now);
                var destroy = false;
                lock (_lock)
                {
                    _creating--;
                    _created++;
                    if (_disposed)
                    {
                        _destroyed++;
                        destroy = true;
                        CheckDrained_Locked();
                    }
                    else
                    {
                        var entry = NewEntry_Locked(connection, now, generation);
                        if (_waiters.Count > 0)
                        {
                            entry.State = PoolEntryState.Busy;
                            _busy++;
                            GrantNext_Locked(entry);
                        }
                        else
                        {
                            entry.State = PoolEntryState.Idle;
                            _idle.Add(entry);
                        }
                    }
                }

                if (destroy)
                {
                    await DestroyConnectionAsync(connection).ConfigureAwait(false);
                }
            }

            lock (_lock)
            {
                _refilling = false;
                ScheduleRefill_Locked();
            }
        }
        finally
        {
            if (done < count)
            {
                // Only reached if something other than the create hook threw: give the reserved slots back.
                lock (_lock)
                {
                    _creating -= count - done;
                    _refilling = false;
                    CheckDrained_Locked();
                }
            }
        }
    }

    /// <summary>The periodic pass: retires expired and long-idle connections (down to MinSize), reports leaks, refills.</summary>
    private void Housekeep()
    {
        List<PoolEntry<TConnection>>? retired = null;
        List<(TimeSpan HeldFor, string AcquiredAt)>? leaks = null;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            var now = _time.GetTimestamp();
            for (var i = _idle.Count - 1; i >= 0; i--)
            {
                var entry = _idle[i];
                if (now >= entry.ExpiresAt || entry.Generation != _generation)
                {
                    _idle.RemoveAt(i);
                    Retire_Locked(entry, ref retired);
                }
            }

            if (_idleTimeoutTicks != long.MaxValue)
            {
                // Index 0 is the connection returned longest ago.
                for (var i = 0; i < _idle.Count && Open > _minSize;)
                {
                    var entry = _idle[i];
                    if (now - entry.LastReturnedAt >= _idleTimeoutTicks)
                    {
                        _idle.RemoveAt(i);
                        Retire_Locked(entry, ref retired);
                    }
                    else
                    {
                        i++;
                    }
                }
            }

            if (_leakThresholdTicks != long.MaxValue)
            {
                foreach (var entry in _all)
                {
                    if (entry.State == PoolEntryState.Busy && !entry.LeakReported && now - entry.LeasedAt >= _leakThresholdTicks)
                    {
                        entry.LeakReported = true;
                        (leaks ??= []).Add((_time.GetElapsedTime(entry.LeasedAt, now), entry.AcquiredAt ?? "(unknown)"));
                    }
                }
            }

            AfterSlotsFreed_Locked();
        }

        if (leaks is not null)
        {
            foreach (var (heldFor, acquiredAt) in leaks)
            {
                ConnectionPoolLog.LeakSuspected(_logger, Name, heldFor, _leakThreshold, acquiredAt);
            }
        }

        if (retired is not null)
        {
            DestroyInBackground(retired);
        }
    }

    private void DestroyInBackground(List<PoolEntry<TConnection>> retired) => RunInBackground(() => DestroyAllAsync(retired));

    private async Task DestroyAllAsync(List<PoolEntry<TConnection>>? entries)
    {
        if (entries is null)
        {
            return;
        }

        foreach (var entry in entries)
        {
            await DestroyRetiredAsync(entry).ConfigureAwait(false);
        }
    }

    /// <summary>Destroys a retired connection, then frees its slot for waiters (or the MinSize refill).</summary>
    private async ValueTask DestroyRetiredAsync(PoolEntry<TConnection> entry)
    {
        try
        {
            await DestroyConnectionAsync(entry.Connection).ConfigureAwait(false);
        }
        finally
        {
            lock (_lock)
            {
                _destroying--;
                AfterSlotsFreed_Locked();
            }
        }
    }

    private async ValueTask DestroyConnectionAsync(TConnection connection)
    {
        try
        {
            if (_destroy is not null)
            {
                await _destroy(connection).ConfigureAwait(false);
            }
            else if (connection is IAsyncDisposable asyncDisposable)
            {
                await asyncDisposable.DisposeAsync().ConfigureAwait(false);
            }
            else if (connection is IDisposable disposable)
            {
                disposable.Dispose();
            }
        }
        catch (Exception ex)
        {
            ConnectionPoolLog.DestroyFailed(_logger, Name, ex);
        }
    }

    /// <summary>
    /// Runs pool-owned work on the thread pool. Every such task is counted, and <see cref="DisposeAsync"/> waits
    /// (up to DrainTimeout) for the count to reach zero; a failure is logged, never lost.
    /// </summary>
    private void RunInBackground(Func<Task> work)
    {
        Interlocked.Increment(ref _background);
        _ = Task.Run(async () =>
        {
            try
            {
                await work().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                ConnectionPoolLog.BackgroundFailed(_logger, Name, ex);
            }
            finally
            {
                if (Interlocked.Decrement(ref _background) == 0)
                {
                    Volatile.Read(ref _backgroundDone)?.TrySetResult();
                }
            }
        });
    }

    private void RecordCreateTime(long started, long now)
    {
        if (ConnectionPoolMetrics.CreateTime.Enabled)
        {
            ConnectionPoolMetrics.CreateTime.Record(Seconds(started, now), PoolNameTag);
        }
    }

    private double Seconds(long from, long to) => (to - from) / (double)_time.TimestampFrequency;

    private long ToTimestampTicks(TimeSpan value) =>
        value == Timeout.InfiniteTimeSpan ? long.MaxValue : (long)(value.Ticks * (_time.TimestampFrequency / (double)TimeSpan.TicksPerSecond));

    private static TimeSpan HousekeepingPeriod(ConnectionPoolOptions<TConnection> options)
    {
        var shortest = TimeSpan.FromSeconds(120);
        foreach (var candidate in new[] { options.IdleTimeout, options.MaxLifetime, options.LeakDetectionThreshold })
        {
            if (candidate != Timeout.InfiniteTimeSpan && candidate < shortest)
            {
                shortest = candidate;
            }
        }

        // A quarter of the shortest time limit, between 10 ms and 30 s: limits are enforced within 25 % of their value.
        return TimeSpan.FromTicks(Math.Clamp(shortest.Ticks / 4, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond * 30));
    }

    private sealed class Waiter() : TaskCompletionSource<PoolEntry<TConnection>?>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public LinkedListNode<Waiter>? Node;
        public ConnectionPoolCore<TConnection>? Pool;
        public int Generation;
    }
}
