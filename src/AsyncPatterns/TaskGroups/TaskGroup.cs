using System.Runtime.CompilerServices;
using AsyncPatterns.Internal;
using AsyncPatterns.TaskGroups.Internal;

namespace AsyncPatterns.TaskGroups;

/// <summary>
/// Structured concurrency for .NET: a scope that owns the children it starts. The group completes only when its body
/// and every child have finished; the first real fault cancels the siblings (<see cref="TaskGroupMode.FailFast"/>)
/// and every fault surfaces, in order, in one <see cref="TaskGroupException"/>. Combines Python's
/// <c>asyncio.TaskGroup</c>, Trio's nurseries (<see cref="StartAsync{TReady}"/>), Go's <c>errgroup</c>
/// (<see cref="TaskGroupOptions.MaxConcurrency"/>, <see cref="TryRun"/>) and Java's <c>StructuredTaskScope</c>.
/// </summary>
/// <remarks>
/// <para>Prefer <see cref="RunAsync(Func{TaskGroup, Task}, TaskGroupOptions?, CancellationToken)"/>: it sees an
/// exception leaving the body. The <c>await using</c> form needs an explicit <see cref="WhenAllAsync"/>; without it,
/// <see cref="DisposeAsync"/> throws the faults nobody has seen.</para>
/// <para>Children always start on the thread pool, never inline on the caller's stack, and never on the caller's
/// <see cref="SynchronizationContext"/>. An <see cref="OperationCanceledException"/> counts as cancellation only when
/// the token it carries is cancelled and is the group's <see cref="Token"/>, the caller's token, or a token linked
/// from them; without a token or with one that is not cancelled, such as an <c>HttpClient</c> timeout, it is a fault,
/// whatever the group's state at that moment.</para>
/// <para>Children accepted before the first fault (fail-fast) but still waiting for a
/// <see cref="TaskGroupOptions.MaxConcurrency"/> slot never run; their tasks end Canceled, as in Python's asyncio.</para>
/// <para>Every public member is safe to call concurrently, from the body, from children or from other threads.</para>
/// </remarks>
public sealed class TaskGroup : IAsyncDisposable
{
    private const int ReasonNone = 0;
    private const int ReasonFault = 1;
    private const int ReasonExplicit = 2;
    private const int ReasonCaller = 3;
    private const int ReasonTimeout = 4;
    private const int OwnerHeld = 0;
    private const int OwnerReleasedByWhenAll = 1;
    private const int OwnerReleasedByDispose = 2;
    private const string BodyName = "(body)";
    private const string TokenCallbackName = "(token callback)";
    private static readonly object s_reportedMarker = new();

    private readonly CancellationTokenSource _cts = new();
    private readonly CancellationToken _callerToken;
    private readonly CancellationTokenRegistration _callerRegistration;
    private readonly ITimer? _timer;
    private readonly TimeSpan? _timeout;
    private readonly TimeProvider? _timeProvider;
    private readonly long _startedAt;
    private readonly TaskGroupMode _mode;
    private readonly int _maxConcurrency;
    private readonly Func<TaskGroupFault, bool>? _onChildFaulted;
    private readonly string? _name;
    private readonly bool _ownedByRunAsync;
    private readonly object _lock = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private LinkedList<IThreadPoolWorkItem>? _queue;
    private List<TaskGroupFault>? _faults;
    private HashSet<Exception>? _reported; // the faults in _faults: retained for the final report anyway
    private ConditionalWeakTable<Exception, object>? _handled; // faults OnChildFaulted handled: weak, so never retained
    private bool _completed;
    private int _running;
    private int _pending = 1; // the body (or the owner of an await-using group) plus every unfinished child
    private int _cancelReason;
    private int _ownerReleased;

    /// <summary>
    /// Creates a group for the <c>await using</c> form: start children, then <c>await group.WhenAllAsync()</c>.
    /// Disposing the group without it cancels the children and waits for them.
    /// </summary>
    /// <param name="options">The options, or <see langword="null"/> for the defaults.</param>
    /// <param name="cancellationToken">Cancels the group; the group then ends with an <see cref="OperationCanceledException"/> carrying it.</param>
    /// <exception cref="ArgumentException"><paramref name="options"/> break a rule of <see cref="TaskGroupOptions"/> (the message lists each one).</exception>
    public TaskGroup(TaskGroupOptions? options = null, CancellationToken cancellationToken = default)
        : this(options, ownedByRunAsync: false, cancellationToken)
    {
    }

    private TaskGroup(TaskGroupOptions? options, bool ownedByRunAsync, CancellationToken cancellationToken)
    {
        _ownedByRunAsync = ownedByRunAsync;
        if (options is not null)
        {
            TaskGroupOptionsValidator.Instance.ThrowIfInvalid(options, nameof(options));
            _mode = options.Mode;
            _maxConcurrency = options.MaxConcurrency ?? int.MaxValue;
            _onChildFaulted = options.OnChildFaulted;
            _name = options.Name;
            _timeout = options.Timeout == System.Threading.Timeout.InfiniteTimeSpan ? null : options.Timeout;
            if (_timeout is { } timeout)
            {
                // A timer holds at most TimerLimits.MaxDueTime (about 49.7 days): a longer timeout re-arms it for what remains.
                _timeProvider = options.TimeProvider;
                _startedAt = _timeProvider.GetTimestamp();
                _timer = _timeProvider.CreateTimer(static state => ((TaskGroup)state!).OnTimer(), this, Min(timeout, TimerLimits.MaxDueTime), System.Threading.Timeout.InfiniteTimeSpan);
            }
        }
        else
        {
            _maxConcurrency = int.MaxValue;
        }

        Token = _cts.Token;
        _callerToken = cancellationToken;
        if (cancellationToken.CanBeCanceled)
        {
            _callerRegistration = cancellationToken.UnsafeRegister(static state => ((TaskGroup)state!).CancelCore(ReasonCaller), this);
        }
    }

    /// <summary>Cancelled when the group stops: first fault (fail-fast), <see cref="Cancel"/>, the caller's token or the timeout.
    /// Children receive it; pass it on to everything they await.</summary>
    public CancellationToken Token { get; }

    /// <summary>
    /// Runs <paramref name="body"/> with a new group and completes when the body and every child it started have
    /// finished, even children that ignore cancellation.
    /// </summary>
    /// <param name="body">Starts children with <see cref="Run(Func{CancellationToken, Task}, string?)"/>; an exception it throws is a fault like a child's.</param>
    /// <param name="options">The options, or <see langword="null"/> for the defaults.</param>
    /// <param name="cancellationToken">Cancels the group.</param>
    /// <returns>A task that completes normally when nothing faulted (also after <see cref="Cancel"/>).</returns>
    /// <exception cref="TaskGroupException">One or more children or the body faulted.</exception>
    /// <exception cref="OperationCanceledException">No fault, and <paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="TimeoutException">No fault, and <see cref="TaskGroupOptions.Timeout"/> elapsed.</exception>
    /// <exception cref="ArgumentException"><paramref name="options"/> break a rule of <see cref="TaskGroupOptions"/>; thrown synchronously.</exception>
    public static Task RunAsync(Func<TaskGroup, Task> body, TaskGroupOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(body);
        var group = new TaskGroup(options, ownedByRunAsync: true, cancellationToken);
        return group.RunBodyAsync<VoidResult>(body);
    }

    /// <summary>Runs <paramref name="body"/> with a new group and returns its result once every child has finished.</summary>
    /// <typeparam name="T">The body's result type.</typeparam>
    /// <param name="body">Starts children and computes the result; an exception it throws is a fault like a child's.</param>
    /// <param name="options">The options, or <see langword="null"/> for the defaults.</param>
    /// <param name="cancellationToken">Cancels the group.</param>
    /// <returns>The body's result. After <see cref="Cancel"/> with no fault, whatever the body returned.</returns>
    /// <exception cref="TaskGroupException">One or more children or the body faulted.</exception>
    /// <exception cref="OperationCanceledException">No fault, and <paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="TimeoutException">No fault, and <see cref="TaskGroupOptions.Timeout"/> elapsed.</exception>
    /// <exception cref="ArgumentException"><paramref name="options"/> break a rule of <see cref="TaskGroupOptions"/>; thrown synchronously.</exception>
    public static Task<T> RunAsync<T>(Func<TaskGroup, Task<T>> body, TaskGroupOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(body);
        var group = new TaskGroup(options, ownedByRunAsync: true, cancellationToken);
        return group.RunBodyAsync<T>(body);
    }

    /// <summary>
    /// Runs candidates concurrently; the first to succeed wins and the others are cancelled. Results of losers that
    /// still succeed are disposed when they are <see cref="IAsyncDisposable"/> (or <see cref="IDisposable"/>).
    /// </summary>
    /// <typeparam name="T">The result type.</typeparam>
    /// <param name="candidates">The competing operations; at least one.</param>
    /// <param name="options">Options for the underlying group (<see cref="TaskGroupOptions.MaxConcurrency"/>,
    /// <see cref="TaskGroupOptions.Timeout"/>, <see cref="TaskGroupOptions.Name"/>); the mode is not used.</param>
    /// <param name="cancellationToken">Cancels the race.</param>
    /// <returns>The winner's result.</returns>
    /// <exception cref="TaskGroupException">Every candidate faulted (the faults in the order they happened, named
    /// <c>"candidate[i]"</c>), or disposing a loser's late result threw: the winner is then disposed, never leaked.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> ended the race; a result that arrived anyway is disposed.</exception>
    /// <exception cref="ArgumentException"><paramref name="options"/> break a rule of <see cref="TaskGroupOptions"/>; thrown synchronously.</exception>
    public static Task<T> RaceAsync<T>(IEnumerable<Func<CancellationToken, Task<T>>> candidates, TaskGroupOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        var list = candidates.ToArray();
        if (list.Length == 0)
        {
            throw new ArgumentException("At least one candidate is required.", nameof(candidates));
        }

        foreach (var candidate in list)
        {
            if (candidate is null)
            {
                throw new ArgumentException("A candidate is null.", nameof(candidates));
            }
        }

        if (options is not null)
        {
            TaskGroupOptionsValidator.Instance.ThrowIfInvalid(options, nameof(options));
        }

        return TaskGroupRace<T>.RunAsync(list, options, cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="body"/> for every item of <paramref name="source"/> with at most
    /// <paramref name="maxConcurrency"/> at once, fail-fast, and returns the results in input order.
    /// </summary>
    /// <typeparam name="TSource">The item type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="source">The items; enumerated lazily, one at a time, as workers become free.</param>
    /// <param name="maxConcurrency">How many bodies may run at once; positive.</param>
    /// <param name="body">The work for one item; receives the group's token.</param>
    /// <param name="cancellationToken">Cancels the loop.</param>
    /// <returns>One result per item, in the order of <paramref name="source"/>.</returns>
    /// <exception cref="TaskGroupException">A body or the enumeration faulted (the rest was cancelled), or the source's
    /// <c>Dispose</c> threw (reported after the loop's faults, named <c>"(source)"</c>). A source that threw is never called again.</exception>
    public static Task<IReadOnlyList<TResult>> ForEachAsync<TSource, TResult>(
        IEnumerable<TSource> source, int maxConcurrency, Func<TSource, CancellationToken, Task<TResult>> body, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxConcurrency);
        ArgumentNullException.ThrowIfNull(body);
        return TaskGroupForEach<TSource, TResult>.RunAsync(source, maxConcurrency, body, cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="body"/> for every item of an asynchronous <paramref name="source"/> with at most
    /// <paramref name="maxConcurrency"/> at once, fail-fast, and returns the results in input order.
    /// </summary>
    /// <typeparam name="TSource">The item type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="source">The items; enumerated with the group's token, one at a time, as workers become free.</param>
    /// <param name="maxConcurrency">How many bodies may run at once; positive.</param>
    /// <param name="body">The work for one item; receives the group's token.</param>
    /// <param name="cancellationToken">Cancels the loop.</param>
    /// <returns>One result per item, in the order of <paramref name="source"/>.</returns>
    /// <exception cref="TaskGroupException">A body or the enumeration faulted (the rest was cancelled), or the source's
    /// <c>DisposeAsync</c> threw (reported after the loop's faults, named <c>"(source)"</c>). A source that threw is never called again.</exception>
    public static Task<IReadOnlyList<TResult>> ForEachAsync<TSource, TResult>(
        IAsyncEnumerable<TSource> source, int maxConcurrency, Func<TSource, CancellationToken, Task<TResult>> body, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxConcurrency);
        ArgumentNullException.ThrowIfNull(body);
        return TaskGroupForEach<TSource, TResult>.RunAsync(source, maxConcurrency, body, cancellationToken);
    }

    /// <summary>
    /// Starts a child. It runs on the thread pool (never inline), after any queued children when
    /// <see cref="TaskGroupOptions.MaxConcurrency"/> is reached. If the group is cancelled before the child starts
    /// (already at this call, or while the child waits for the thread pool or a slot), the delegate is not run and the
    /// returned task is cancelled. Also allowed while the group waits for its last children.
    /// </summary>
    /// <param name="work">The child; receives <see cref="Token"/>.</param>
    /// <param name="name">A name for <see cref="TaskGroupFault.ChildName"/>.</param>
    /// <returns>The child's task. Its faults are reported by the group, so it need not be awaited.</returns>
    /// <exception cref="InvalidOperationException">The group has completed.</exception>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "VSTHRD200:Use \"Async\" suffix for async methods", Justification = "Like Task.Run: starts a child and returns its handle; the group awaits it.")]
    public Task Run(Func<CancellationToken, Task> work, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(work);
        var child = new TaskGroupChild<VoidResult>(this, work, name);
        Start(child, tryOnly: false);
        return child.Task;
    }

    /// <summary>Starts a child that returns a result; see <see cref="Run(Func{CancellationToken, Task}, string?)"/>.</summary>
    /// <typeparam name="T">The child's result type.</typeparam>
    /// <param name="work">The child; receives <see cref="Token"/>.</param>
    /// <param name="name">A name for <see cref="TaskGroupFault.ChildName"/>.</param>
    /// <returns>The child's task with its result.</returns>
    /// <exception cref="InvalidOperationException">The group has completed.</exception>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "VSTHRD200:Use \"Async\" suffix for async methods", Justification = "Like Task.Run: starts a child and returns its handle; the group awaits it.")]
    public Task<T> Run<T>(Func<CancellationToken, Task<T>> work, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(work);
        var child = new TaskGroupChild<T>(this, work, name);
        Start(child, tryOnly: false);
        return child.Task;
    }

    /// <summary>
    /// Starts a child unless <see cref="TaskGroupOptions.MaxConcurrency"/> children are already running or queued
    /// (Go's <c>errgroup.TryGo</c>).
    /// </summary>
    /// <param name="work">The child; receives <see cref="Token"/>.</param>
    /// <param name="name">A name for <see cref="TaskGroupFault.ChildName"/>.</param>
    /// <returns><see langword="true"/> when the child was accepted, <see langword="false"/> when the group is full.</returns>
    /// <exception cref="InvalidOperationException">The group has completed.</exception>
    public bool TryRun(Func<CancellationToken, Task> work, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(work);
        return Start(new TaskGroupChild<VoidResult>(this, work, name), tryOnly: true);
    }

    /// <summary>
    /// Starts a child and waits until it signals that it is ready (Trio's <c>nursery.start</c>), for example a
    /// server that is listening. The child keeps running in the group after the signal.
    /// </summary>
    /// <typeparam name="TReady">The value the child signals.</typeparam>
    /// <param name="work">The child: calls its first argument once, when ready; receives a token cancelled by the group,
    /// and by <paramref name="cancellationToken"/> until the signal.</param>
    /// <param name="name">A name for <see cref="TaskGroupFault.ChildName"/>.</param>
    /// <param name="cancellationToken">Cancels the child while it is not yet ready; while it waits for a
    /// <see cref="TaskGroupOptions.MaxConcurrency"/> slot, it leaves the queue at once and never runs.</param>
    /// <returns>The signalled value.</returns>
    /// <exception cref="InvalidOperationException">The child finished without signalling, or the group has completed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> or the group was cancelled before the signal.</exception>
    /// <remarks>A fault before the signal surfaces from this method, not from the group; after the signal it is the group's.</remarks>
    public Task<TReady> StartAsync<TReady>(Func<Action<TReady>, CancellationToken, Task> work, string? name = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<TReady>(cancellationToken);
        }

        var child = new TaskGroupStartChild<TReady>(this, work, name, cancellationToken);
        Start(child, tryOnly: false);
        return child.Ready;
    }

    /// <summary>Stops the group gracefully: cancels <see cref="Token"/>; the group then completes normally unless something faulted.</summary>
    /// <remarks>A callback registered on <see cref="Token"/> that throws is a fault of the group (named <c>"(token callback)"</c>).
    /// Once the group has completed its report is out, so such an exception is thrown from this call instead.</remarks>
    /// <exception cref="AggregateException">The group has completed and callbacks registered on <see cref="Token"/> threw.</exception>
    public void Cancel() => CancelCore(ReasonExplicit);

    /// <summary>
    /// For the <c>await using</c> form: ends the owner's part and waits for every child, with the same outcome as
    /// <see cref="RunAsync(Func{TaskGroup, Task}, TaskGroupOptions?, CancellationToken)"/>. Calling it again returns the same task.
    /// Once it has been called, the faults are its to report: <see cref="DisposeAsync"/> no longer throws them.
    /// </summary>
    /// <returns>A task that completes when every child has finished.</returns>
    /// <exception cref="TaskGroupException">One or more children faulted.</exception>
    /// <exception cref="OperationCanceledException">No fault, and the caller's token was cancelled.</exception>
    /// <exception cref="TimeoutException">No fault, and the timeout elapsed.</exception>
    /// <exception cref="InvalidOperationException">The group was created by <see cref="RunAsync(Func{TaskGroup, Task}, TaskGroupOptions?, CancellationToken)"/>.</exception>
    public Task WhenAllAsync()
    {
        if (_ownedByRunAsync)
        {
            throw new InvalidOperationException("WhenAllAsync is for groups created with 'new TaskGroup(...)': RunAsync already waits for this group's children.");
        }

        ReleaseOwner(OwnerReleasedByWhenAll);
        return _completion.Task;
    }

    /// <summary>
    /// Waits for the children. If <see cref="WhenAllAsync"/> was not called, the group is cancelled first, and faults
    /// nobody has seen are thrown here: a <see cref="TaskGroupException"/>, as Python's asyncio raises from
    /// <c>__aexit__</c>. C# gives <c>DisposeAsync</c> no way to see an exception already leaving the <c>await using</c>
    /// block, so when the group also has unseen faults the <see cref="TaskGroupException"/> replaces that exception
    /// (a fault is never lost silently; <see cref="RunAsync(Func{TaskGroup, Task}, TaskGroupOptions?, CancellationToken)"/>
    /// reports both). Without faults it never throws, so an exception leaving the block passes unchanged; a
    /// cancellation or timeout is not thrown here either. After <see cref="WhenAllAsync"/>, it never throws: the faults
    /// were that method's to report. Idempotent: only the first call throws.
    /// Does nothing for a group created by <see cref="RunAsync(Func{TaskGroup, Task}, TaskGroupOptions?, CancellationToken)"/>, which owns its lifetime.
    /// </summary>
    /// <returns>A task that completes when every child has finished.</returns>
    /// <exception cref="TaskGroupException">A child faulted and <see cref="WhenAllAsync"/> was never called.</exception>
    public async ValueTask DisposeAsync()
    {
        if (_ownedByRunAsync)
        {
            return; // RunAsync owns this group's lifetime; waiting here, inside its body, would never end.
        }

        var reportsFaults = false;
        if (Interlocked.CompareExchange(ref _ownerReleased, OwnerReleasedByDispose, OwnerHeld) == OwnerHeld)
        {
            reportsFaults = true;
            Cancel();
            Exit();
        }

        try
        {
            await _completion.Task.ConfigureAwait(false);
        }
        catch (TaskGroupException) when (reportsFaults)
        {
            throw; // nobody awaited WhenAllAsync: this is the only place the faults can surface
        }
        catch (Exception ex) when (ex is TaskGroupException or OperationCanceledException or TimeoutException)
        {
            // Reported by WhenAllAsync, or a cancellation: an exception leaving the block stays the one the caller sees.
        }
    }

    /// <summary>
    /// The rule for "is this a cancellation?", decided by the token the exception carries: an
    /// <see cref="OperationCanceledException"/> is a cancellation only when its token is cancelled and it is the
    /// child's token, the group's or the caller's, or, for a token linked from them, the child's token is cancelled
    /// too (a linked token is cancelled only after its source). An exception without a token, or with a token that is
    /// not cancelled, is always a fault, whatever the group's state.
    /// </summary>
    internal bool IsCancellation(Exception exception, CancellationToken childToken)
    {
        if (exception is not OperationCanceledException { CancellationToken: var carried } || !carried.IsCancellationRequested)
        {
            return false;
        }

        return carried == childToken || carried == Token || carried == _callerToken
            || childToken.IsCancellationRequested || Token.IsCancellationRequested;
    }

    internal void ReportFault(Exception exception, string? childName)
    {
        // The body (or a child) that awaits a faulted child rethrows the same exception: it is one fault. Faults kept
        // for the report are remembered with them; handled ones in a weak table, so a long-lived supervisor holds no
        // memory for the faults it has handled.
        lock (_lock)
        {
            if (_reported?.Contains(exception) == true)
            {
                return;
            }
        }

        if (_onChildFaulted is not null)
        {
            var handledFaults = LazyInitializer.EnsureInitialized(ref _handled, static () => new ConditionalWeakTable<Exception, object>());
            if (handledFaults.TryGetValue(exception, out _))
            {
                return;
            }

            bool handled;
            try
            {
                handled = _onChildFaulted(new TaskGroupFault(exception, childName, _name));
            }
            catch (Exception handlerException)
            {
                // Contained: the handler's exception is reported beside the fault it was handling.
                AddFault(exception, childName);
                AddFault(handlerException, childName);
                return;
            }

            if (handled)
            {
                handledFaults.AddOrUpdate(exception, s_reportedMarker);
                return;
            }
        }

        if (AddFault(exception, childName) && _mode == TaskGroupMode.FailFast)
        {
            CancelCore(ReasonFault);
        }
    }

    internal void OnChildFinished()
    {
        if (_maxConcurrency != int.MaxValue)
        {
            IThreadPoolWorkItem? next = null;
            lock (_lock)
            {
                if (_queue?.First is { } first)
                {
                    _queue.Remove(first);
                    next = first.Value; // the slot passes to the next queued child
                }
                else
                {
                    _running--;
                }
            }

            if (next is not null)
            {
                ThreadPool.UnsafeQueueUserWorkItem(next, preferLocal: false);
            }
        }

        Exit();
    }

    /// <summary>
    /// Takes a child that waits for a slot out of the queue (its <c>StartAsync</c> token was cancelled); the caller
    /// then completes it and calls <see cref="OnQueuedChildRemoved"/>.
    /// </summary>
    /// <returns><see langword="false"/> when the child is not queued (it has started, or was never queued).</returns>
    internal bool TryRemoveQueued<T>(TaskGroupChild<T> child)
    {
        lock (_lock)
        {
            if (child.QueueNode is not { } node || node.List is null || node.List != _queue)
            {
                return false;
            }

            _queue.Remove(node);
            return true;
        }
    }

    /// <summary>Ends the part of a child taken out of the queue by <see cref="TryRemoveQueued"/>: it held no slot.</summary>
    internal void OnQueuedChildRemoved() => Exit();

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private bool Start<T>(TaskGroupChild<T> child, bool tryOnly)
    {
        Enter();
        if (Token.IsCancellationRequested)
        {
            child.CompleteWithoutRunning();
            Exit();
            return true;
        }

        if (_maxConcurrency != int.MaxValue)
        {
            lock (_lock)
            {
                if (_running < _maxConcurrency && _queue is not { Count: > 0 })
                {
                    _running++;
                }
                else if (tryOnly)
                {
                    child.TrySetCanceled(Token);
                    Exit();
                    return false;
                }
                else if (child.IsAbandoned)
                {
                    // Its StartAsync token was cancelled before it could be queued: it never waits for a slot.
                    child.CompleteWithoutRunning();
                    Exit();
                    return true;
                }
                else
                {
                    child.QueueNode = (_queue ??= new LinkedList<IThreadPoolWorkItem>()).AddLast(child);
                    return true;
                }
            }
        }

        ThreadPool.UnsafeQueueUserWorkItem(child, preferLocal: false);
        return true;
    }

    private void Enter()
    {
        var pending = Volatile.Read(ref _pending);
        while (true)
        {
            if (pending == 0)
            {
                throw new InvalidOperationException(_name is null
                    ? "The task group has completed: it cannot start more children."
                    : $"The task group '{_name}' has completed: it cannot start more children.");
            }

            var seen = Interlocked.CompareExchange(ref _pending, pending + 1, pending);
            if (seen == pending)
            {
                return;
            }

            pending = seen;
        }
    }

    private void Exit()
    {
        if (Interlocked.Decrement(ref _pending) == 0)
        {
            Complete();
        }
    }

    private void ReleaseOwner(int how)
    {
        if (Interlocked.CompareExchange(ref _ownerReleased, how, OwnerHeld) == OwnerHeld)
        {
            Exit();
        }
    }

    private async Task<T> RunBodyAsync<T>(object body)
    {
        var result = default(T)!;
        try
        {
            var task = body is Func<TaskGroup, Task<T>> typed ? typed(this) : ((Func<TaskGroup, Task>)body)(this);
            if (task is null)
            {
                throw new InvalidOperationException("The task group's body returned a null Task.");
            }

            if (task is Task<T> typedTask)
            {
                result = await typedTask.ConfigureAwait(false);
            }
            else
            {
                await task.ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            if (!IsCancellation(ex, Token))
            {
                ReportFault(ex, BodyName);
            }
        }

        ReleaseOwner(OwnerReleasedByWhenAll);
        await _completion.Task.ConfigureAwait(false);
        return result;
    }

    /// <summary>Records a fault for the final report; <see langword="false"/> when it is already there or the group has completed.</summary>
    private bool AddFault(Exception exception, string? childName)
    {
        lock (_lock)
        {
            if (_completed || !(_reported ??= new HashSet<Exception>(ReferenceEqualityComparer.Instance)).Add(exception))
            {
                return false;
            }

            (_faults ??= []).Add(new TaskGroupFault(exception, childName, _name));
            return true;
        }
    }

    private void OnTimer()
    {
        if (_timeout > TimerLimits.MaxDueTime)
        {
            var remaining = _timeout.Value - _timeProvider!.GetElapsedTime(_startedAt);
            if (remaining > TimeSpan.Zero)
            {
                try
                {
                    _timer?.Change(Min(remaining, TimerLimits.MaxDueTime), System.Threading.Timeout.InfiniteTimeSpan);
                }
                catch (ObjectDisposedException)
                {
                    // The group completed meanwhile: nothing left to time out.
                }

                return;
            }
        }

        CancelCore(ReasonTimeout);
    }

    private void CancelCore(int reason)
    {
        if (Interlocked.CompareExchange(ref _cancelReason, reason, ReasonNone) != ReasonNone)
        {
            return;
        }

        try
        {
            _cts.Cancel();
        }
        catch (AggregateException ex)
        {
            // A callback registered on Token threw: that is a fault of the group's code, not a cancellation.
            var fault = ex.InnerExceptions.Count == 1 ? ex.InnerExceptions[0] : ex;
            if (!AddFault(fault, TokenCallbackName) && reason == ReasonExplicit)
            {
                // The group has completed, so its report is out: the caller of Cancel() is the one left to tell.
                throw;
            }
        }
    }

    private void Complete()
    {
        _callerRegistration.Unregister();
        _timer?.Dispose();

        List<TaskGroupFault>? faults;
        lock (_lock)
        {
            _completed = true;
            faults = _faults;
        }

        if (faults is { Count: > 0 })
        {
            _completion.TrySetException(TaskGroupException.Create(TaskGroupException.Subject("task group", _name), faults));
            return;
        }

        switch (Volatile.Read(ref _cancelReason))
        {
            case ReasonTimeout:
                _completion.TrySetException(new TimeoutException(_name is null
                    ? $"The task group did not complete within {_timeout}."
                    : $"The task group '{_name}' did not complete within {_timeout}."));
                break;
            case ReasonCaller:
                _completion.TrySetCanceled(_callerToken);
                break;
            default:
                _completion.TrySetResult();
                break;
        }
    }
}
