using System.Threading.RateLimiting;
using AsyncPatterns.Internal;

namespace AsyncPatterns.RateLimiting.Internal;

/// <summary>
/// The engine behind <see cref="TokenBucketLimiter"/> and <see cref="RequestRateLimiter"/>: an optional concurrency
/// limit plus an optional token bucket, one wait queue, all state under one lock. The bucket refills lazily from
/// <see cref="TimeProvider.GetTimestamp"/> (fractional tokens, computed from the elapsed timestamp so nothing drifts);
/// a <see cref="TimeProvider"/> timer wakes the queue when the tokens its head needs will exist.
/// </summary>
internal sealed class LimiterCore : IDisposable
{
    // Tolerance for comparing fractional token counts: below one timestamp tick's worth of tokens for any rate of at
    // least one token per 100 s; a slower bucket may grant up to 1e-9 of a token's period early (2.6 ms at one token
    // per 30 days).
    private const double Epsilon = 1e-9;

    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly int _maxConcurrency;        // int.MaxValue: no concurrency limit
    private readonly bool _rateLimited;
    private readonly int _tokenLimit;
    private readonly double _tokensPerPeriod;
    private readonly long _periodTicks;          // TimeSpan ticks
    private readonly double _periodTimestampTicks;
    private readonly int _queueLimit;
    private readonly QueueProcessingOrder _order;
    private readonly RateLimiter _owner;

    private double _tokens;
    private long _lastRefill;
    private long? _fullSince;
    private long _concurrencyIdleSince;
    private int _inUse;

    private readonly WaiterQueue<Waiter> _queue = new();

    private ITimer? _timer;
    private bool _disposed;

    private long _successfulLeases;
    private long _failedLeases;

    public LimiterCore(
        RateLimiter owner,
        TimeProvider timeProvider,
        int maxConcurrency,
        double tokensPerPeriod,
        TimeSpan replenishmentPeriod,
        int tokenLimit,
        int queueLimit,
        QueueProcessingOrder order)
    {
        _owner = owner;
        _time = timeProvider;
        _maxConcurrency = maxConcurrency;
        _rateLimited = !double.IsPositiveInfinity(tokensPerPeriod);
        _tokensPerPeriod = tokensPerPeriod;
        _periodTicks = replenishmentPeriod.Ticks;
        _periodTimestampTicks = (double)_periodTicks * timeProvider.TimestampFrequency / TimeSpan.TicksPerSecond;
        _tokenLimit = _rateLimited ? tokenLimit : int.MaxValue;
        _queueLimit = queueLimit;
        _order = order;

        var now = timeProvider.GetTimestamp();
        _tokens = _tokenLimit;
        _lastRefill = now;
        _fullSince = now;
        _concurrencyIdleSince = now;
    }

    /// <summary>The largest permit count one acquire may ask for.</summary>
    public int PermitLimit => Math.Min(_maxConcurrency, _tokenLimit);

    private bool HoldsConcurrency => _maxConcurrency != int.MaxValue;

    public TimeSpan? IdleDuration
    {
        get
        {
            lock (_lock)
            {
                var now = _time.GetTimestamp();
                Refill(now);
                if (_inUse != 0 || !_queue.IsEmpty || _fullSince is not { } fullSince)
                {
                    return null;
                }

                return _time.GetElapsedTime(Math.Max(fullSince, _concurrencyIdleSince), now);
            }
        }
    }

    public RateLimiterStatistics GetStatistics()
    {
        lock (_lock)
        {
            RefillNow();
            return new RateLimiterStatistics
            {
                CurrentAvailablePermits = AvailablePermits(),
                CurrentQueuedCount = _queue.PermitCount,
                TotalFailedLeases = Volatile.Read(ref _failedLeases),
                TotalSuccessfulLeases = Volatile.Read(ref _successfulLeases),
            };
        }
    }

    public RateLimitLease AttemptAcquire(int permitCount)
    {
        ValidatePermitCount(permitCount);
        lock (_lock)
        {
            ThrowIfDisposed();
            RefillNow();
            if (TryLease(permitCount, out var lease))
            {
                return lease;
            }

            _failedLeases++;
            return CreateFailedLease(permitCount);
        }
    }

    public ValueTask<RateLimitLease> AcquireAsync(int permitCount, CancellationToken cancellationToken)
    {
        ValidatePermitCount(permitCount);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<RateLimitLease>(cancellationToken);
        }

        Waiter? evicted = null;
        lock (_lock)
        {
            ThrowIfDisposed();
            RefillNow();
            if (TryLease(permitCount, out var lease))
            {
                return new ValueTask<RateLimitLease>(lease);
            }

            // Subtraction, not addition: QueueLimit may be int.MaxValue.
            if (_queueLimit - _queue.PermitCount < permitCount)
            {
                if (_order == QueueProcessingOrder.NewestFirst && permitCount <= _queueLimit)
                {
                    // Make room for the newest request by failing the oldest ones.
                    while (_queueLimit - _queue.PermitCount < permitCount)
                    {
                        var oldest = _queue.Head!;
                        _queue.Remove(oldest);
                        oldest.Registration.Unregister();
                        oldest.Next = evicted;
                        evicted = oldest;
                        _failedLeases++;
                    }
                }
                else
                {
                    _failedLeases++;
                    return new ValueTask<RateLimitLease>(CreateFailedLease(permitCount));
                }
            }

            var waiter = new Waiter(this, permitCount);
            _queue.Append(waiter);
            ArmTimer();
            if (cancellationToken.CanBeCanceled)
            {
                // Registered under the lock so that every state change of a waiter happens under it. If the token
                // is cancelled right now the callback runs here, re-entering the (recursive) lock.
                waiter.Registration = cancellationToken.UnsafeRegister(
                    static (state, token) => ((Waiter)state!).Owner.Cancel((Waiter)state!, token), waiter);
            }

            while (evicted is not null)
            {
                var next = evicted.Next;
                evicted.Next = null;
                evicted.TrySetResult(CreateFailedLease(evicted.Count));
                evicted = next;
            }

            return new ValueTask<RateLimitLease>(waiter.Task);
        }
    }

    /// <summary>Gives back <paramref name="count"/> concurrency permits and serves the queue.</summary>
    public void Release(int count)
    {
        Waiter? granted;
        lock (_lock)
        {
            _inUse -= count;
            if (_inUse == 0)
            {
                _concurrencyIdleSince = _time.GetTimestamp();
            }

            if (_disposed || _queue.IsEmpty)
            {
                return;
            }

            RefillNow();
            granted = ServeQueue();
        }

        Complete(granted);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _timer?.Dispose();
            _timer = null;
            while (_queue.Head is { } waiter)
            {
                _queue.Remove(waiter);
                waiter.Registration.Unregister();
                waiter.TrySetException(new ObjectDisposedException(_owner.GetType().FullName));
            }
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, _owner);

    private void ValidatePermitCount(int permitCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(permitCount);
        if (permitCount > PermitLimit)
        {
            throw new ArgumentOutOfRangeException(
                nameof(permitCount), permitCount, $"{permitCount} permit(s) exceed the limiter's limit of {PermitLimit}.");
        }
    }

    private long AvailablePermits()
    {
        var concurrency = _maxConcurrency - _inUse;
        if (!_rateLimited)
        {
            return concurrency;
        }

        return Math.Min(concurrency, (long)Math.Floor(_tokens + Epsilon));
    }

    // permitCount 0 asks whether a permit is available without taking one.
    private bool CanGrant(int permitCount)
    {
        var needed = Math.Max(permitCount, 1);
        return _maxConcurrency - _inUse >= needed && (!_rateLimited || _tokens + Epsilon >= needed);
    }

    private bool TryLease(int permitCount, out RateLimitLease lease)
    {
        // Waiters go first, unless the newest is served first (then the caller is the newest).
        if ((_queue.IsEmpty || _order == QueueProcessingOrder.NewestFirst) && CanGrant(permitCount))
        {
            lease = Take(permitCount);
            return true;
        }

        lease = null!;
        return false;
    }

    private RateLimitLease Take(int permitCount)
    {
        _successfulLeases++;
        if (permitCount == 0)
        {
            return SuccessfulLease.Instance;
        }

        if (_rateLimited)
        {
            _tokens = Math.Max(_tokens - permitCount, 0);
            _fullSince = null;
        }

        if (!HoldsConcurrency)
        {
            return SuccessfulLease.Instance;
        }

        _inUse += permitCount;
        return new ConcurrencyLease(this, permitCount);
    }

    private void Refill(long now)
    {
        if (!_rateLimited || now <= _lastRefill)
        {
            return;
        }

        if (_fullSince is null)
        {
            var before = _tokens;
            _tokens += (now - _lastRefill) * _tokensPerPeriod / _periodTimestampTicks;
            if (_tokens + Epsilon >= _tokenLimit)
            {
                _tokens = _tokenLimit;
                _fullSince = _lastRefill + (long)Math.Ceiling((_tokenLimit - before) * _periodTimestampTicks / _tokensPerPeriod - 1e-3);
            }
        }

        _lastRefill = now;
    }

    /// <summary>The time until <paramref name="tokens"/> more tokens than are there now exist, rounded up to a tick.</summary>
    private TimeSpan TimeUntilTokens(double tokens)
    {
        var deficit = tokens - _tokens;
        if (deficit <= Epsilon)
        {
            return TimeSpan.Zero;
        }

        var ticks = Math.Ceiling((deficit * _periodTicks / _tokensPerPeriod) - 1e-3);
        // The cast saturates (at long.MaxValue, which is TimeSpan.MaxValue.Ticks) for a wait longer than a TimeSpan holds.
        return TimeSpan.FromTicks(Math.Max((long)ticks, 1));
    }

    private FailedLease CreateFailedLease(int permitCount)
    {
        if (!_rateLimited)
        {
            // Only concurrency is short: when a permit comes back is unknown.
            return FailedLease.WithoutRetryAfter;
        }

        // Everything queued is served first, then this request. If the tokens are there, concurrency is what is
        // short, and when a lease comes back is unknown.
        var retryAfter = TimeUntilTokens((double)_queue.PermitCount + Math.Max(permitCount, 1));
        return retryAfter == TimeSpan.Zero ? FailedLease.WithoutRetryAfter : new FailedLease(retryAfter);
    }

    private void Cancel(Waiter waiter, CancellationToken cancellationToken)
    {
        Waiter? granted = null;
        lock (_lock)
        {
            if (!waiter.Queued)
            {
                return;
            }

            _queue.Remove(waiter);
            if (!_disposed)
            {
                // The waiter may have held up those behind it.
                RefillNow();
                granted = ServeQueue();
            }
        }

        waiter.TrySetCanceled(cancellationToken);
        Complete(granted);
    }

    private void OnTimer()
    {
        Waiter? granted;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            RefillNow();
            granted = ServeQueue();
        }

        Complete(granted);
    }

    /// <summary>
    /// Grants the permits of every waiter that can be served now, in queue order, and returns them as a chain (linked
    /// through <see cref="QueuedWaiter{TWaiter}.Next"/>) for <see cref="Complete"/> to complete once the lock is released.
    /// </summary>
    private Waiter? ServeQueue()
    {
        Waiter? first = null;
        Waiter? last = null;
        while (Next() is { } waiter && CanGrant(waiter.Count))
        {
            _queue.Remove(waiter);
            waiter.Registration.Unregister();
            waiter.Lease = Take(waiter.Count);
            if (last is null)
            {
                first = waiter;
            }
            else
            {
                last.Next = waiter;
            }

            last = waiter;
        }

        ArmTimer();
        return first;
    }

    /// <summary>Completes a chain of granted waiters, outside the lock. A granted waiter is out of the queue, so nothing else completes it.</summary>
    private static void Complete(Waiter? granted)
    {
        while (granted is not null)
        {
            var next = granted.Next;
            granted.Next = null;
            granted.TrySetResult(granted.Lease!);
            granted.Lease = null;
            granted = next;
        }
    }

    private void RefillNow()
    {
        if (_rateLimited)
        {
            Refill(_time.GetTimestamp());
        }
    }

    private Waiter? Next() => _queue.Next(_order);

    private void ArmTimer()
    {
        if (!_rateLimited || Next() is not { } waiter)
        {
            return;
        }

        var due = TimeUntilTokens(Math.Max(waiter.Count, 1));
        if (due == TimeSpan.Zero)
        {
            // The tokens are there: the waiter waits for a concurrency permit, which a release brings.
            return;
        }

        _timer ??= _time.CreateTimer(static state => ((LimiterCore)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

        // A longer wait than a timer can hold wakes up early, finds the tokens still short and re-arms.
        _timer.Change(due < TimerLimits.MaxDueTime ? due : TimerLimits.MaxDueTime, Timeout.InfiniteTimeSpan);
    }

    private sealed class Waiter(LimiterCore owner, int count) : QueuedWaiter<Waiter>(count)
    {
        public LimiterCore Owner { get; } = owner;

        public RateLimitLease? Lease { get; set; }
    }
}
