namespace AsyncPatterns.TaskGroups.Internal;

/// <summary>
/// A child started with <see cref="TaskGroup.StartAsync{TReady}"/> (Trio's <c>nursery.start</c>): until it signals
/// ready, its faults and cancellation belong to the caller of <c>StartAsync</c>, whose token cancels it; after the
/// signal it is an ordinary child of the group. Cancelled while it waits for a slot
/// (<see cref="TaskGroupOptions.MaxConcurrency"/>), it leaves the queue at once and never runs.
/// </summary>
internal sealed class TaskGroupStartChild<TReady> : TaskGroupChild<VoidResult>
{
    private readonly Func<Action<TReady>, CancellationToken, Task> _work;
    private readonly CancellationTokenSource _cts;
    private readonly CancellationToken _startToken;
    private readonly TaskCompletionSource<TReady> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Action<TReady> _signal;
    private readonly CancellationTokenRegistration _startRegistration;
    private int _signalled;

    public TaskGroupStartChild(TaskGroup group, Func<Action<TReady>, CancellationToken, Task> work, string? name, CancellationToken startToken)
        : base(group, null, name)
    {
        _work = work;
        _startToken = startToken;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(group.Token);
        _signal = Signal;
        if (startToken.CanBeCanceled)
        {
            _startRegistration = startToken.UnsafeRegister(static state => ((TaskGroupStartChild<TReady>)state!).OnStartCancelled(), this);
        }
    }

    public Task<TReady> Ready => _ready.Task;

    protected override CancellationToken ChildToken => _cts.Token;

    public override bool IsAbandoned => _startToken.IsCancellationRequested;

    public override void CompleteWithoutRunning()
    {
        OnEnded(canceled: true);
        base.CompleteWithoutRunning();
    }

    protected override Task? Invoke(CancellationToken token) => _work(_signal, token);

    protected override bool OnFaulted(Exception exception)
    {
        var beforeSignal = TryClaimSignal();
        _cts.Dispose();
        if (beforeSignal)
        {
            _ready.TrySetException(exception);
        }

        return beforeSignal;
    }

    protected override void OnEnded(bool canceled)
    {
        if (TryClaimSignal())
        {
            if (!canceled)
            {
                _ready.TrySetException(new InvalidOperationException("The child started with StartAsync finished without signalling that it was ready."));
            }
            else if (_startToken.IsCancellationRequested)
            {
                _ready.TrySetCanceled(_startToken);
            }
            else
            {
                _ready.TrySetCanceled(Group.Token);
            }
        }

        _cts.Dispose();
    }

    private void OnStartCancelled()
    {
        if (Group.TryRemoveQueued(this))
        {
            // Still waiting for a slot: it leaves the queue now and never runs.
            OnEnded(canceled: true);
            TrySetCanceled(_startToken);
            Group.OnQueuedChildRemoved();
            return;
        }

        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The child ended while the caller's token was being cancelled: nothing is left to cancel.
        }
    }

    private bool TryClaimSignal()
    {
        if (Interlocked.Exchange(ref _signalled, 1) != 0)
        {
            return false;
        }

        _startRegistration.Unregister();
        return true;
    }

    private void Signal(TReady value)
    {
        if (!TryClaimSignal())
        {
            throw new InvalidOperationException("The child has already signalled that it was ready.");
        }

        _ready.TrySetResult(value);
    }
}
