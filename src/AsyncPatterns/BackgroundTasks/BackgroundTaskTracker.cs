using AsyncPatterns.BackgroundTasks.Internal;
using AsyncPatterns.Internal;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AsyncPatterns.BackgroundTasks;

/// <summary>
/// Runs fire-and-forget work on the thread pool and keeps track of it: every fault is logged once with the task's name,
/// capacity is bounded (<see cref="BackgroundTaskTrackerOptions.MaxInFlight"/> running,
/// <see cref="BackgroundTaskTrackerOptions.MaxQueued"/> waiting), and <see cref="ShutdownAsync"/> cancels the work, waits
/// a grace period and reports what became of each task.
/// </summary>
/// <remarks>
/// <para>
/// Every public member is safe to call concurrently. Finished tasks are released at once, and so are
/// <see cref="StartAsync"/> callers whose token is cancelled: the tracker holds only the work that is queued or running
/// and the callers still waiting.
/// </para>
/// <para>
/// The tracker's accounting never depends on code it does not own: a logger that throws loses that log entry, a
/// <c>MeterListener</c> callback that throws loses that measurement, and a throwing <c>StopApplication</c> is logged; the
/// queue, <see cref="InFlight"/>, <see cref="DrainAsync"/> and the shutdown report stay right and nothing becomes an
/// unobserved task exception.
/// </para>
/// <para>
/// The <see cref="TimeProvider"/> is expected not to throw; one that does costs measurements, never accounting. A task
/// that ends while it throws still frees its slot, starts the next one and has its fault logged (its duration counts as
/// zero, and the clock's error is logged). A call that needs the clock throws its exception: <see cref="TryStart"/> and
/// <see cref="StartAsync"/> when they would start work (nothing is accepted), <see cref="Snapshot"/>, and
/// <see cref="ShutdownAsync"/>, which closes the tracker, drops the queue and cancels the work first.
/// </para>
/// </remarks>
public sealed class BackgroundTaskTracker : IAsyncDisposable, IDisposable
{
    private readonly Lock _lock = new();
    private readonly int _maxInFlight;
    private readonly int _capacity;
    private readonly TimeSpan _defaultGrace;
    private readonly BackgroundTaskFaultBehavior _faultBehavior;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly IHostApplicationLifetime? _applicationLifetime;
    private readonly CancellationTokenSource _shutdownSource = new();
    private readonly CancellationToken _shutdownToken;

    // Cancelled when the shutdown's grace period ends early: by the host's stop token, whoever started the shutdown.
    private readonly CancellationTokenSource _graceEnd = new();
    private readonly Queue<TrackedTask> _queue = new();

    private TrackedTask? _runningHead;
    private int _running;
    private long _nextId;
    private bool _closed;
    private TaskCompletionSource? _idle;

    // The StartAsync callers waiting for room, oldest first: a doubly linked list, so a cancelled waiter leaves it at once.
    private CapacityWaiter? _firstWaiter;
    private CapacityWaiter? _lastWaiter;
    private int _waiterCount;
    private readonly TaskCompletionSource<ShutdownReport> _shutdownCompletion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource<ShutdownReport>? _shutdown;
    private ReportBuilder? _report;

    // Ended tasks whose fault is being logged (and the host stopped) outside the lock: the tracker is idle only once
    // these are done too, so whoever awaits DrainAsync or a shutdown sees every fault already logged.
    private int _reportingFaults;

    /// <summary>Initializes a new instance of the <see cref="BackgroundTaskTracker"/> class.</summary>
    /// <param name="options">The options, or <see langword="null"/> for the defaults.</param>
    /// <param name="logger">Where faults and shutdown reports are logged, or <see langword="null"/> for none.</param>
    /// <param name="timeProvider">The clock of grace periods, ages and durations; <see cref="TimeProvider.System"/> by default.</param>
    /// <exception cref="ArgumentException">
    /// <paramref name="options"/> break a rule of <see cref="BackgroundTaskTrackerOptions"/> (the message lists each one), or
    /// <paramref name="options"/> asks for <see cref="BackgroundTaskFaultBehavior.LogAndStopHost"/>, which needs a host:
    /// register the tracker with <c>services.AddBackgroundTaskTracker(...)</c> instead.
    /// </exception>
    public BackgroundTaskTracker(
        BackgroundTaskTrackerOptions? options = null,
        ILogger<BackgroundTaskTracker>? logger = null,
        TimeProvider? timeProvider = null)
        : this(options, logger, timeProvider, applicationLifetime: null)
    {
    }

    internal BackgroundTaskTracker(
        BackgroundTaskTrackerOptions? options,
        ILogger<BackgroundTaskTracker>? logger,
        TimeProvider? timeProvider,
        IHostApplicationLifetime? applicationLifetime)
    {
        options ??= new BackgroundTaskTrackerOptions();
        BackgroundTaskTrackerOptionsValidator.Instance.ThrowIfInvalid(options, nameof(options));
        if (options.FaultBehavior == BackgroundTaskFaultBehavior.LogAndStopHost && applicationLifetime is null)
        {
            throw new ArgumentException(
                "FaultBehavior LogAndStopHost needs a host: register the tracker with services.AddBackgroundTaskTracker(...).",
                nameof(options));
        }

        _maxInFlight = options.MaxInFlight;
        _capacity = (int)Math.Min(int.MaxValue, (long)options.MaxInFlight + options.MaxQueued);
        _defaultGrace = options.DefaultGrace;
        _faultBehavior = options.FaultBehavior;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _applicationLifetime = applicationLifetime;
        _shutdownToken = _shutdownSource.Token;
    }

    /// <summary>
    /// Gets a task that completes with the <see cref="ShutdownReport"/> once the tracker has shut down, whoever started
    /// the shutdown (<see cref="ShutdownAsync"/>, <see cref="DisposeAsync"/>, <see cref="Dispose"/> or, under a host, the
    /// hosted service <c>AddBackgroundTaskTracker</c> registers). It is never cancelled, and
    /// <see cref="DrainAsync"/> alone does not complete it.
    /// </summary>
    /// <value>The same task for the tracker's whole life; awaiting it does not start a shutdown.</value>
    /// <remarks>
    /// Under a host, keep the tracker (inject it, or resolve it before <c>RunAsync</c>) and await this after the host has
    /// stopped: <c>await host.RunAsync(); var report = await tracker.ShutdownCompletion;</c>.
    /// </remarks>
    public Task<ShutdownReport> ShutdownCompletion => _shutdownCompletion.Task;

    /// <summary>Gets how many tasks are running now (queued ones not included; abandoned ones until they end).</summary>
    public int InFlight => Volatile.Read(ref _running);

    /// <summary>
    /// Starts <paramref name="work"/> on the thread pool if there is room, or queues it if
    /// <see cref="BackgroundTaskTrackerOptions.MaxInFlight"/> tasks are running and the queue has room. Never runs
    /// the work on the caller's thread.
    /// </summary>
    /// <param name="work">The work; its token is cancelled by <see cref="ShutdownAsync"/>.</param>
    /// <param name="name">The name used in logs, snapshots and reports; <c>background-task-N</c> when <see langword="null"/>.</param>
    /// <returns>
    /// <see langword="true"/> if the work was accepted; <see langword="false"/> if the tracker is closed or full (callers
    /// waiting in <see cref="StartAsync"/> keep their turn, so this also returns <see langword="false"/> while any wait).
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="work"/> is <see langword="null"/>.</exception>
    public bool TryStart(Func<CancellationToken, Task> work, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(work);
        TrackedTask? launch;
        lock (_lock)
        {
            if (_closed || _running + _queue.Count >= _capacity || _waiterCount > 0)
            {
                return false;
            }

            launch = AdmitLocked(CreateTask(work, name), now: null);
        }

        launch?.Launch();
        return true;
    }

    /// <summary>
    /// Starts or queues <paramref name="work"/> like <see cref="TryStart"/>, waiting for room when the tracker is full
    /// (backpressure). Waiting callers are admitted in arrival order.
    /// </summary>
    /// <param name="work">The work; its token is cancelled by <see cref="ShutdownAsync"/>.</param>
    /// <param name="name">The name used in logs, snapshots and reports; <c>background-task-N</c> when <see langword="null"/>.</param>
    /// <param name="cancellationToken">
    /// Stops waiting for room: the caller leaves the wait at once and its work never runs. Work already accepted is not affected.
    /// </param>
    /// <returns>A task that completes when the work has been accepted (started or queued), not when it ends.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="work"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The tracker is closed (drained or shut down), before or while waiting.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled before the work was accepted.</exception>
    public ValueTask StartAsync(Func<CancellationToken, Task> work, string? name = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        TrackedTask? launch = null;
        CapacityWaiter? waiter = null;
        lock (_lock)
        {
            if (_closed)
            {
                return ValueTask.FromException(ClosedException());
            }

            var task = CreateTask(work, name);
            if (_running + _queue.Count < _capacity && _waiterCount == 0)
            {
                launch = AdmitLocked(task, now: null);
            }
            else
            {
                waiter = new CapacityWaiter(task);
                AppendWaiterLocked(waiter);

                // Registered under the (reentrant) lock, so a waiter is never admitted before its registration exists. The
                // callback unlinks the waiter at once: a cancelled caller leaves nothing behind, however long the tracker stays full.
                waiter.Registration = cancellationToken.UnsafeRegister(
                    static (state, token) =>
                    {
                        var (tracker, waiter) = ((BackgroundTaskTracker, CapacityWaiter))state!;
                        tracker.CancelWaiter(waiter, token);
                    },
                    (this, waiter));
            }
        }

        if (waiter is null)
        {
            launch?.Launch();
            return ValueTask.CompletedTask;
        }

        return new ValueTask(waiter.Task);
    }

    /// <summary>Lists the running tasks with their names and ages (queued tasks are not listed).</summary>
    /// <returns>A copy, oldest first.</returns>
    public IReadOnlyList<BackgroundTaskInfo> Snapshot()
    {
        var now = _timeProvider.GetTimestamp();
        lock (_lock)
        {
            var list = new List<BackgroundTaskInfo>(_running);
            for (var node = _runningHead; node is not null; node = node.Next)
            {
                list.Add(new BackgroundTaskInfo(node.Name, _timeProvider.GetElapsedTime(node.StartedTimestamp, now)));
            }

            list.Reverse();
            return list;
        }
    }

    /// <summary>
    /// Closes the tracker to new work and waits until every running and queued task has ended, without cancelling
    /// anything. Callers waiting in <see cref="StartAsync"/> are rejected.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting; the work is not cancelled and the tracker stays closed.</param>
    /// <returns>A task that completes when no work is left.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    public Task DrainAsync(CancellationToken cancellationToken = default)
    {
        var idle = CloseAsync();
        return cancellationToken.CanBeCanceled ? idle.WaitAsync(cancellationToken) : idle;
    }

    /// <summary>
    /// Closes the tracker to new work and drops the queued work (one step: work is either accepted before the shutdown
    /// begins and counted in its report, or refused), cancels the token of every running task, waits up to
    /// <paramref name="grace"/> on the tracker's <see cref="TimeProvider"/> and reports what became of each task. The
    /// shutdown happens once: later calls (and <see cref="DisposeAsync"/>) return the same report whatever their grace.
    /// </summary>
    /// <param name="grace">How long to wait for the work to end: zero or more, or <see cref="Timeout.InfiniteTimeSpan"/>.</param>
    /// <param name="cancellationToken">Stops this caller's wait; the shutdown itself goes on and keeps its deadline.</param>
    /// <returns>The report, also logged (as a warning when something faulted or was abandoned).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="grace"/> is negative or too large for a timer.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    public Task<ShutdownReport> ShutdownAsync(TimeSpan grace, CancellationToken cancellationToken = default)
    {
        ValidateGrace(grace, nameof(grace));
        return ShutdownWithinAsync(grace, graceEnd: default, cancellationToken);
    }

    /// <summary>
    /// <see cref="ShutdownAsync(TimeSpan, CancellationToken)"/> whose grace period also ends when <paramref name="graceEnd"/>
    /// is cancelled (the host's shutdown timeout), so the report is complete when the host gives up. That holds whoever
    /// started the shutdown: a shutdown already under way (say, begun from <c>ApplicationStopping</c> with a longer grace)
    /// ends its grace period when <paramref name="graceEnd"/> is cancelled too.
    /// </summary>
    internal Task<ShutdownReport> ShutdownWithinAsync(TimeSpan grace, CancellationToken graceEnd, CancellationToken cancellationToken)
    {
        var shutdown = Volatile.Read(ref _shutdown);
        if (shutdown is null)
        {
            var created = _shutdownCompletion;
            shutdown = Interlocked.CompareExchange(ref _shutdown, created, null);
            if (shutdown is null)
            {
                shutdown = created;

                // Tracked: its outcome is the shutdown task every caller awaits.
                _ = RunShutdownAsync(created, grace);
            }
        }

        if (graceEnd.CanBeCanceled && !shutdown.Task.IsCompleted)
        {
            var registration = graceEnd.UnsafeRegister(static state => ((BackgroundTaskTracker)state!).EndGrace(), this);

            // Unregister (never blocks) once the shutdown is over, so a long-lived token does not keep the tracker alive.
            _ = shutdown.Task.ContinueWith(
                static (_, state) => ((CancellationTokenRegistration)state!).Unregister(),
                registration,
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }

        return cancellationToken.CanBeCanceled ? shutdown.Task.WaitAsync(cancellationToken) : shutdown.Task;
    }

    /// <summary>Shuts the tracker down with <see cref="BackgroundTaskTrackerOptions.DefaultGrace"/>; idempotent.</summary>
    /// <returns>A task that completes with the shutdown.</returns>
    public async ValueTask DisposeAsync() => await ShutdownAsync(_defaultGrace).ConfigureAwait(false);

    /// <summary>
    /// Closes the tracker and cancels the running work without waiting for it (use <see cref="DisposeAsync"/> to wait and
    /// get a report). Tasks that end later are still logged. Idempotent.
    /// </summary>
    public void Dispose()
    {
        // Observed here: a shutdown that fails (a throwing TimeProvider) may have no one else to await it.
        _ = ShutdownAsync(TimeSpan.Zero).ContinueWith(
            static t => _ = t.Exception,
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    internal static void ValidateGrace(TimeSpan grace, string paramName)
    {
        if (grace != Timeout.InfiniteTimeSpan && (grace < TimeSpan.Zero || grace > TimerLimits.MaxDueTime))
        {
            throw new ArgumentOutOfRangeException(paramName, grace, "The grace period must be zero or more (at most about 49 days), or Timeout.InfiniteTimeSpan.");
        }
    }

    /// <summary>Runs one task on a thread-pool thread; never throws, reports the outcome in <see cref="Finish"/>.</summary>
    internal async Task RunAsync(TrackedTask task)
    {
        var work = task.Work!;
        task.Work = null;
        Exception? fault = null;
        var cancelled = false;
        try
        {
            await work(_shutdownToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_shutdownToken.IsCancellationRequested)
        {
            cancelled = true;
        }
        catch (Exception ex)
        {
            fault = ex;
        }

        Finish(task, fault, cancelled);
    }

    private void EndGrace()
    {
        try
        {
            _graceEnd.Cancel();
        }
        catch (AggregateException)
        {
            // Only the shutdown's own delay is registered on this source; its cancellation does not throw.
        }
    }

    private static InvalidOperationException ClosedException() =>
        new("The background task tracker is closed to new work: it has been drained or shut down.");

    private TrackedTask CreateTask(Func<CancellationToken, Task> work, string? name) =>
        new(this, work, name ?? "background-task-" + (++_nextId).ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>
    /// Starts (returns it, to launch outside the lock) or queues (returns null) an accepted task. <paramref name="now"/> is
    /// the start time read by the caller, or null to read the clock here: a clock that throws then throws before anything changed.
    /// </summary>
    private TrackedTask? AdmitLocked(TrackedTask task, long? now)
    {
        if (_running < _maxInFlight)
        {
            MarkRunningLocked(task, now ?? _timeProvider.GetTimestamp());
            return task;
        }

        _queue.Enqueue(task);
        return null;
    }

    private void MarkRunningLocked(TrackedTask task, long now)
    {
        task.StartedTimestamp = now;
        task.Next = _runningHead;
        if (_runningHead is not null)
        {
            _runningHead.Previous = task;
        }

        _runningHead = task;
        _running++;
        BackgroundTaskTelemetry.RecordStarted();
    }

    private void Finish(TrackedTask task, Exception? fault, bool cancelled)
    {
        // Read once, before anything changes: a clock that throws costs the measurements, never the accounting.
        long now;
        TimeSpan elapsed;
        Exception? clockFault = null;
        try
        {
            now = _timeProvider.GetTimestamp();
            elapsed = _timeProvider.GetElapsedTime(task.StartedTimestamp, now);
        }
        catch (Exception ex)
        {
            clockFault = ex;
            now = task.StartedTimestamp;
            elapsed = TimeSpan.Zero;
        }

        TrackedTask? next = null;
        CapacityWaiter? admitted = null;
        TrackedTask? nextForWaiter;
        TaskCompletionSource? idle = null;
        bool abandoned;
        lock (_lock)
        {
            if (task.Previous is not null)
            {
                task.Previous.Next = task.Next;
            }
            else
            {
                _runningHead = task.Next;
            }

            if (task.Next is not null)
            {
                task.Next.Previous = task.Previous;
            }

            task.Previous = task.Next = null;

            // Recorded before the count drops, as the start is recorded when it rises: whoever sees InFlight (or a
            // shutdown report) without this task also sees its measurements.
            BackgroundTaskTelemetry.RecordEnded(elapsed);
            _running--;
            abandoned = task.Abandoned;
            if (!abandoned)
            {
                _report?.Record(task.Name, fault, cancelled);
            }

            // One slot freed: the oldest queued task starts, then the oldest waiting StartAsync caller gets the room.
            if (_queue.TryDequeue(out next))
            {
                MarkRunningLocked(next, now);
            }

            admitted = AdmitWaiterLocked(now, out nextForWaiter);
            if (fault is not null)
            {
                _reportingFaults++;
            }
            else if (IsIdleLocked())
            {
                idle = _idle;
            }
        }

        if (clockFault is not null)
        {
            BackgroundTaskLog.ClockFailed(_logger, clockFault, task.Name);
        }

        // The fault is logged before DrainAsync or a shutdown can observe that this task has ended. The logger, the
        // listeners and StopApplication are contained: whatever they throw, the next tasks launch and the waiters are told.
        if (fault is not null)
        {
            BackgroundTaskTelemetry.RecordFaulted();
            if (abandoned)
            {
                BackgroundTaskLog.AbandonedTaskFaulted(_logger, fault, task.Name);
            }
            else
            {
                BackgroundTaskLog.TaskFaulted(_logger, fault, task.Name);
            }

            if (_faultBehavior == BackgroundTaskFaultBehavior.LogAndStopHost && _applicationLifetime is not null)
            {
                BackgroundTaskLog.StoppingHost(_logger, task.Name);
                try
                {
                    _applicationLifetime.StopApplication();
                }
                catch (Exception ex)
                {
                    BackgroundTaskLog.StopApplicationFailed(_logger, ex, task.Name);
                }
            }

            lock (_lock)
            {
                _reportingFaults--;
                if (IsIdleLocked())
                {
                    idle = _idle;
                }
            }
        }

        next?.Launch();
        nextForWaiter?.Launch();
        if (admitted is not null)
        {
            admitted.Registration.Unregister();
            admitted.TrySetResult();
        }

        idle?.TrySetResult();
    }

    private bool IsIdleLocked() => _closed && _running == 0 && _queue.Count == 0 && _reportingFaults == 0;

    /// <summary>Admits the first waiting <see cref="StartAsync"/> caller if there is room now.</summary>
    private CapacityWaiter? AdmitWaiterLocked(long now, out TrackedTask? launch)
    {
        launch = null;
        var waiter = _firstWaiter;
        if (_closed || waiter is null || _running + _queue.Count >= _capacity)
        {
            return null;
        }

        RemoveWaiterLocked(waiter);
        launch = AdmitLocked(waiter.Tracked, now);
        return waiter;
    }

    private void AppendWaiterLocked(CapacityWaiter waiter)
    {
        waiter.Previous = _lastWaiter;
        if (_lastWaiter is null)
        {
            _firstWaiter = waiter;
        }
        else
        {
            _lastWaiter.Next = waiter;
        }

        _lastWaiter = waiter;
        _waiterCount++;
    }

    /// <summary>Unlinks a waiting caller and marks it done (admitted, cancelled or rejected): the one way out of the list.</summary>
    private void RemoveWaiterLocked(CapacityWaiter waiter)
    {
        if (waiter.Previous is null)
        {
            _firstWaiter = waiter.Next;
        }
        else
        {
            waiter.Previous.Next = waiter.Next;
        }

        if (waiter.Next is null)
        {
            _lastWaiter = waiter.Previous;
        }
        else
        {
            waiter.Next.Previous = waiter.Previous;
        }

        waiter.Previous = waiter.Next = null;
        waiter.Done = true;
        _waiterCount--;
    }

    private void CancelWaiter(CapacityWaiter waiter, CancellationToken token)
    {
        lock (_lock)
        {
            if (waiter.Done)
            {
                return;
            }

            RemoveWaiterLocked(waiter);
        }

        waiter.TrySetCanceled(token);
    }

    /// <summary>Closes the tracker (idempotent), rejects the waiting callers and returns a task that completes when no work is left.</summary>
    private Task CloseAsync()
    {
        List<CapacityWaiter>? rejected = null;
        Task idle;
        lock (_lock)
        {
            idle = CloseLocked(ref rejected).Task;
        }

        Reject(rejected);
        return idle;
    }

    /// <summary>
    /// Closes the tracker (idempotent) and unlinks the waiting callers into <paramref name="rejected"/> (to reject outside
    /// the lock); returns the source that completes when no work is left.
    /// </summary>
    private TaskCompletionSource CloseLocked(ref List<CapacityWaiter>? rejected)
    {
        if (!_closed)
        {
            _closed = true;
            while (_firstWaiter is { } waiter)
            {
                RemoveWaiterLocked(waiter);
                (rejected ??= []).Add(waiter);
            }
        }

        if (_idle is null)
        {
            _idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (IsIdleLocked())
            {
                _idle.SetResult();
            }
        }

        return _idle;
    }

    private static void Reject(List<CapacityWaiter>? rejected)
    {
        if (rejected is null)
        {
            return;
        }

        foreach (var waiter in rejected)
        {
            waiter.Registration.Unregister();
            waiter.TrySetException(ClosedException());
        }
    }

    private async Task RunShutdownAsync(TaskCompletionSource<ShutdownReport> completion, TimeSpan grace)
    {
        try
        {
            completion.TrySetResult(await ShutdownCoreAsync(grace).ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            completion.TrySetException(ex);
        }
    }

    private async Task<ShutdownReport> ShutdownCoreAsync(TimeSpan grace)
    {
        // A clock that throws fails the shutdown (its report cannot be timed), but only once the tracker is closed and
        // the work cancelled: a broken clock never leaves the tracker open.
        long start = 0;
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? clockFault = null;
        try
        {
            start = _timeProvider.GetTimestamp();
        }
        catch (Exception ex)
        {
            clockFault = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex);
        }

        var builder = new ReportBuilder();
        int dropped;
        List<CapacityWaiter>? rejected = null;
        Task idle;
        lock (_lock)
        {
            // One step: the queue is dropped and the tracker closed under the same lock, so no work can be accepted
            // (queued behind the drop, then run) once the shutdown has begun.
            _report = builder;
            dropped = _queue.Count;
            _queue.Clear();
            idle = CloseLocked(ref rejected).Task;
        }

        Reject(rejected);
        try
        {
            // Sets the token at once; the work's cancellation callbacks run on the thread pool, not on this caller.
            await _shutdownSource.CancelAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            BackgroundTaskLog.CancellationCallbackFailed(_logger, ex);
        }

        clockFault?.Throw();
        if (!idle.IsCompleted)
        {
            // The deadline counts from the start of the shutdown, however long the cancellation callbacks took.
            var wait = grace == Timeout.InfiniteTimeSpan ? grace : grace - _timeProvider.GetElapsedTime(start);
            var delay = wait == Timeout.InfiniteTimeSpan || wait > TimeSpan.Zero
                ? Task.Delay(wait, _timeProvider, _graceEnd.Token)
                : Task.CompletedTask;
            await Task.WhenAny(idle, delay).ConfigureAwait(false);

            // Stops the grace timer if the work ended first (the source serves this one delay only).
            EndGrace();
        }

        ShutdownReport report;
        lock (_lock)
        {
            var abandoned = new List<string>(_running);
            for (var node = _runningHead; node is not null; node = node.Next)
            {
                node.Abandoned = true;
                abandoned.Add(node.Name);
            }

            abandoned.Reverse();
            report = builder.Build(dropped, abandoned, _timeProvider.GetElapsedTime(start));
            _report = null;
        }

        if (report.Abandoned.Count > 0)
        {
            BackgroundTaskTelemetry.RecordAbandoned(report.Abandoned.Count);
        }

        if (report.IsClean)
        {
            BackgroundTaskLog.ShutdownCompleted(_logger, report.Elapsed, report);
        }
        else
        {
            BackgroundTaskLog.ShutdownAbandoned(_logger, report.Elapsed, report);
        }

        return report;
    }

    private sealed class ReportBuilder
    {
        private readonly List<BackgroundTaskFault> _faulted = [];
        private int _completed;
        private int _cancelled;

        public void Record(string name, Exception? fault, bool cancelled)
        {
            if (fault is not null)
            {
                _faulted.Add(new BackgroundTaskFault(name, fault));
            }
            else if (cancelled)
            {
                _cancelled++;
            }
            else
            {
                _completed++;
            }
        }

        public ShutdownReport Build(int dropped, List<string> abandoned, TimeSpan elapsed) =>
            new(_completed, _faulted.AsReadOnly(), _cancelled + dropped, abandoned.AsReadOnly(), elapsed);
    }
}
