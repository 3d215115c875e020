using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AsyncPatterns.Connections.Internal;

/// <summary>
/// The pool. One lock guards the counts, the idle stack and the FIFO of waiters; hooks (create, usable, validate,
/// reset, destroy) and loggers always run outside it. The type is split by concern: this file holds the state, the
/// named slot transitions and the invariants; <c>.Acquire</c>, <c>.Return</c>, <c>.Create</c>, <c>.Housekeeping</c>
/// and <c>.Dispose</c> hold the rest.
/// <para>Invariants, checked by <see cref="AssertInvariants"/> at the end of every locked section in Debug builds:</para>
/// <list type="bullet">
/// <item>idle + busy + creating + destroying ≤ MaxSize: a retired connection keeps its slot until its destroy hook has
/// finished, so the pool never has more than MaxSize connections open;</item>
/// <item>waiters are only queued while no connection is idle (a returned connection goes to the first waiter, never
/// back to the stack), so a new caller never overtakes a waiter;</item>
/// <item>a waiter is granted either a connection or a reserved slot to create one in, and it leaves the queue when
/// granted or cancelled, so cancellation consumes nothing;</item>
/// <item>once disposed, nothing is idle and nobody waits; once drained, nothing is busy or being created.</item>
/// </list>
/// The counts change only through the transitions in this file, and each transition ends with the follow-up it needs
/// (waking waiters for freed slots, the MinSize refill, completing the drain), so no caller has to remember one.
/// Background work (refilling MinSize, destroying retired connections) is counted and awaited by
/// <see cref="DisposeAsync"/>; its failures are logged.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "The pool is IAsyncDisposable through AsyncConnectionPool; _shutdown has no timer and is only cancelled, never disposed, because late background work may still read its token.")]
internal sealed partial class ConnectionPoolCore<TConnection> : IConnectionPoolMetricsSource
{
    private readonly Lock _lock = new();
    private readonly Func<CancellationToken, ValueTask<TConnection>> _create;
    private readonly Func<TConnection, bool>? _isUsable;
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
    private readonly ITimer? _waitTimer;
    private readonly long _acquireTimeoutTicks;
    private readonly bool _acquireReadsClock;
    private readonly bool _returnReadsClock;

    // Slot counts: changed only by the transitions below.
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
    private TaskCompletionSource? _quiet;
    private TaskCompletionSource? _disposeCompletion;

    public ConnectionPoolCore(ConnectionPoolOptions<TConnection> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();

        Name = options.Name;
        PoolNameTag = new KeyValuePair<string, object?>(ConnectionPoolMetrics.PoolNameAttribute, Name);
        _create = options.CreateAsync!;
        _isUsable = options.IsUsable;
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
        _acquireTimeoutTicks = ToTimestampTicks(options.AcquireTimeout);

        // The clock is read only for what needs it: taking an idle connection needs the time for lifetime, validation
        // and leak detection; returning one for lifetime, idle eviction and validation (and both for the metrics).
        _acquireReadsClock = _maxLifetimeTicks != long.MaxValue || _validateAfterIdleTicks != long.MaxValue || _leakThresholdTicks != long.MaxValue;
        _returnReadsClock = _maxLifetimeTicks != long.MaxValue || _validateAfterIdleTicks != long.MaxValue || _idleTimeoutTicks != long.MaxValue;
        if (_acquireTimeoutTicks != long.MaxValue)
        {
            _waitTimer = _time.CreateTimer(static state => ((ConnectionPoolCore<TConnection>)state!).OnWaitTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        var period = HousekeepingPeriod(options);
        _housekeeper = _time.CreateTimer(static state => ((ConnectionPoolCore<TConnection>)state!).Housekeep(), this, period, period);
        ConnectionPoolMetrics.Register(this);

        lock (_lock)
        {
            ScheduleRefill_Locked();
            AssertInvariants();
        }
    }

    public string Name { get; }

    public KeyValuePair<string, object?> PoolNameTag { get; }

    public int MaxSize => _maxSize;

    /// <summary>Every connection that holds a slot: idle, leased, being created, or retired and still being destroyed.</summary>
    private int Total => _idle.Count + _busy + _creating + _destroying;

    /// <summary>The connections that count towards MinSize: idle, leased or being created.</summary>
    private int Open => _idle.Count + _busy + _creating;

    public ConnectionPoolStatistics Statistics
    {
        get
        {
            lock (_lock)
            {
                return new ConnectionPoolStatistics(_idle.Count, _busy, _creating, _destroying, _waiterCount, _created, _destroyed, _timeouts);
            }
        }
    }

    public (int Idle, int Used, int Pending) Snapshot()
    {
        lock (_lock)
        {
            return (_idle.Count, _busy, _waiterCount);
        }
    }

    /// <summary>The exception of an acquire that the pool's disposal ended; it names the pool, not this type.</summary>
    private ObjectDisposedException DisposedException(string? detail = null) =>
        new(Name, $"The connection pool '{Name}' was disposed{detail}.");

    // ---- Slot transitions. Each runs under the lock and ends with the follow-up it needs. ----

    /// <summary>Nothing → creating: reserves <paramref name="count"/> slots in which connections are being created.</summary>
    private void ReserveCreate_Locked(int count = 1) => _creating += count;

    /// <summary>Creating → nothing: a create failed or was abandoned; its slots go to waiters or the refill.</summary>
    private void CreateFailed_Locked(int count = 1)
    {
        _creating -= count;
        SlotsFreed_Locked();
    }

    /// <summary>
    /// Creating → busy: the connection created in a reserved slot is leased to the creator. When the pool was disposed
    /// meanwhile, creating → destroying instead, and this returns <see langword="false"/>: the caller destroys the entry
    /// with <see cref="DestroyRetiredAsync"/>.
    /// </summary>
    private bool Created_Locked(PoolEntry<TConnection> entry)
    {
        _creating--;
        _created++;
        if (_disposed)
        {
            entry.State = PoolEntryState.Destroyed;
            _destroying++;
            _destroyed++;
            CheckDrained_Locked();
            return false;
        }

        entry.State = PoolEntryState.Busy;
        _busy++;
        _all.Add(entry);
        return true;
    }

    /// <summary>Idle → busy: pops the most recently returned usable idle connection; retires expired or cleared ones on the way.</summary>
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
    /// Busy → idle, or busy → busy for the longest waiter (a returned connection is never stacked while anyone waits).
    /// <paramref name="idleSince"/> is when it was last known good: the return time, or an older time when the
    /// connection goes back unchecked.
    /// </summary>
    /// <returns>The waiter granted the connection, which the caller completes with <see cref="Waiter.Schedule"/> once the lock is released; <see langword="null"/> when it went idle.</returns>
    private Waiter? Release_Locked(PoolEntry<TConnection> entry, long idleSince)
    {
        entry.LastReturnedAt = idleSince;
        if (_waiterCount > 0)
        {
            return Dequeue_Locked(_head!, WaitOutcome.Granted, entry);
        }

        entry.State = PoolEntryState.Idle;
        _busy--;
        _idle.Add(entry);
        return null;
    }

    /// <summary>
    /// Idle or busy → destroying (an idle entry is removed from the idle stack by the caller first). The slot stays
    /// taken until the destroy hook has finished (<see cref="Destroyed_Locked"/>).
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
        CheckDrained_Locked();
    }

    /// <summary>Destroying → nothing: the destroy hook has finished; the slot goes to waiters or the refill.</summary>
    private void Destroyed_Locked()
    {
        _destroying--;
        SlotsFreed_Locked();
    }

    /// <summary>
    /// Destroying → creating: the slot of a connection that failed its check passes straight to the caller that
    /// checked it, ahead of any waiter. Returns <see langword="false"/> (destroying → nothing) once the pool is disposed.
    /// </summary>
    private bool DestroyedIntoCreate_Locked()
    {
        if (_disposed)
        {
            Destroyed_Locked();
            return false;
        }

        _destroying--;
        ReserveCreate_Locked();
        return true;
    }

    /// <summary>Gives freed capacity to waiters first (as reserved slots to create in), then tops the pool up to MinSize.</summary>
    private void SlotsFreed_Locked()
    {
        while (!_disposed && _waiterCount > 0 && Total < _maxSize)
        {
            ReserveCreate_Locked();
            GrantNext_Locked(null);
        }

        ScheduleRefill_Locked();
        CheckDrained_Locked();
    }

    private void GrantNext_Locked(PoolEntry<TConnection>? entry) => Complete_Locked(_head!, WaitOutcome.Granted, entry);

    /// <summary>Completes the two stages of disposal: drained (nothing leased or being created), then quiet (nothing being destroyed or running in the background either).</summary>
    private void CheckDrained_Locked()
    {
        if (!_disposed || _busy != 0 || _creating != 0)
        {
            return;
        }

        _drained?.TrySetResult();
        if (_destroying == 0 && _background == 0)
        {
            _quiet?.TrySetResult();
        }
    }

    /// <summary>Checks the invariants listed on the type (Debug builds only); call it at the end of every locked section.</summary>
    [Conditional("DEBUG")]
    private void AssertInvariants()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "the invariants are checked under the lock");
        Debug.Assert(_busy >= 0 && _creating >= 0 && _destroying >= 0 && _background >= 0, $"no count is negative: {Describe()}");
        Debug.Assert(Total <= _maxSize, $"idle + busy + creating + destroying <= MaxSize ({_maxSize}): {Describe()}");
        Debug.Assert(_waiterCount == 0 || _idle.Count == 0, $"waiters are queued only while nothing is idle: {Describe()}");
        Debug.Assert((_waiterCount == 0) == (_head is null) && (_head is null) == (_tail is null), $"the waiter count matches the queue: {Describe()}");
        Debug.Assert(_waitTimer is null || _head is null || _waitTimerDue <= _head.Deadline, $"the wait timer is due no later than the first waiter's deadline: {Describe()}");
        Debug.Assert(_freeWaiterCount <= MaxFreeWaiters, $"the free list is bounded: {Describe()}");
        Debug.Assert(_all.Count == _idle.Count + _busy, $"every live entry is idle or busy: {_all.Count} live, {Describe()}");
        Debug.Assert(_idle.TrueForAll(static e => e.State == PoolEntryState.Idle), "every entry on the idle stack is idle");
        Debug.Assert(!_disposed || (_waiterCount == 0 && _idle.Count == 0), $"once disposed, nothing is idle and nobody waits: {Describe()}");
        Debug.Assert(_drained?.Task.IsCompleted != true || (_busy == 0 && _creating == 0), $"once drained, nothing is busy or being created: {Describe()}");
        Debug.Assert(_quiet?.Task.IsCompleted != true || Total == 0, $"once quiet, no slot is taken: {Describe()}");
    }

    // Stryker disable all : Debug-only text of a failed invariant check; Release builds never call it.
    private string Describe() =>
        $"idle {_idle.Count}, busy {_busy}, creating {_creating}, destroying {_destroying}, waiting {_waiterCount}, free waiters {_freeWaiterCount}, background {_background}, disposed {_disposed}";
    // Stryker restore all

    private void RecordCreateTime(long started, long now)
    {
        if (ConnectionPoolMetrics.CreateTime.Enabled)
        {
            Record(ConnectionPoolMetrics.CreateTime, Seconds(started, now));
        }
    }

    /// <summary>
    /// Records one measurement. Meter listeners run inline, on the pool's own path: one that throws loses only this
    /// measurement, never the connection or the slot the pool was accounting for when it recorded it.
    /// </summary>
    private void Record(Histogram<double> instrument, double seconds)
    {
        try
        {
            instrument.Record(seconds, PoolNameTag);
        }
#pragma warning disable CA1031 // A listener's failure is the listener's: the pool's accounting must go on.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private void CountTimeout()
    {
        try
        {
            ConnectionPoolMetrics.Timeouts.Add(1, PoolNameTag);
        }
#pragma warning disable CA1031 // As in Record: the caller still gets its ConnectionPoolTimeoutException.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private double Seconds(long from, long to) => (to - from) / (double)_time.TimestampFrequency;

    private long ToTimestampTicks(TimeSpan value) =>
        value == Timeout.InfiniteTimeSpan ? long.MaxValue : (long)(value.Ticks * (_time.TimestampFrequency / (double)TimeSpan.TicksPerSecond));
}
