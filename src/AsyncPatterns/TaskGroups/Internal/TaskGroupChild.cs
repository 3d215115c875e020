using System.Diagnostics;

namespace AsyncPatterns.TaskGroups.Internal;

/// <summary>
/// One child of a <see cref="TaskGroup"/>: it is the <see cref="TaskCompletionSource{TResult}"/> behind the task
/// <c>Run</c> returns and the thread-pool work item that starts the delegate, so a child costs two small objects
/// plus one continuation. The delegate always starts on the thread pool, never inline on the caller's stack.
/// </summary>
internal class TaskGroupChild<T> : TaskCompletionSource<T>, IThreadPoolWorkItem
{
    private static readonly ContextCallback s_start = static state => ((TaskGroupChild<T>)state!).Start();

    private readonly object? _work;
    private readonly ExecutionContext? _context;
    private Task? _inner;

    public TaskGroupChild(TaskGroup group, object? work, string? name)
    {
        Group = group;
        _work = work;
        Name = name;
        _context = ExecutionContext.Capture();
    }

    protected TaskGroup Group { get; }

    public string? Name { get; }

    /// <summary>The child's place in the group's queue while it waits for a slot (set and cleared under the group's lock).</summary>
    public LinkedListNode<IThreadPoolWorkItem>? QueueNode { get; set; }

    /// <summary>Whether the child must not wait for a slot: nobody is waiting for it any more.</summary>
    public virtual bool IsAbandoned => false;

    /// <summary>The token the delegate receives.</summary>
    protected virtual CancellationToken ChildToken => Group.Token;

    void IThreadPoolWorkItem.Execute()
    {
        if (_context is null)
        {
            Start();
        }
        else
        {
            ExecutionContext.Run(_context, s_start, this);
        }
    }

    /// <summary>Completes the child as cancelled without running its delegate (the group was already cancelled).</summary>
    public virtual void CompleteWithoutRunning() => TrySetCanceled(Group.Token);

    /// <summary>Invokes the delegate.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "VSTHRD200:Use \"Async\" suffix for async methods", Justification = "Invokes a user delegate; not an async operation of its own.")]
    protected virtual Task? Invoke(CancellationToken token) =>
        _work is Func<CancellationToken, Task<T>> typed ? typed(token) : ((Func<CancellationToken, Task>)_work!)(token);

    /// <summary>Called before the group hears of a fault; returns <see langword="true"/> when the child dealt with it itself.</summary>
    protected virtual bool OnFaulted(Exception exception) => false;

    /// <summary>Called when the delegate ran to completion or was cancelled, before the group hears of it.</summary>
    protected virtual void OnEnded(bool canceled)
    {
    }

    private void Start()
    {
        var token = ChildToken;
        if (token.IsCancellationRequested)
        {
            OnEnded(canceled: true);
            TrySetCanceled(token);
            Group.OnChildFinished();
            return;
        }

        Task? inner;
        try
        {
            inner = Invoke(token);
        }
        catch (Exception ex)
        {
            Finish(ex, token);
            return;
        }

        if (inner is null)
        {
            Finish(new InvalidOperationException("The child's delegate returned a null Task."), token);
            return;
        }

        _inner = inner;
        if (inner.IsCompleted)
        {
            OnInnerCompleted();
        }
        else
        {
            inner.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(OnInnerCompleted);
        }
    }

    private void OnInnerCompleted()
    {
        var inner = _inner!;
        var token = ChildToken;
        if (inner.IsCompletedSuccessfully)
        {
            var result = inner is Task<T> typed ? CompletedResult(typed) : default!;
            OnEnded(canceled: false);
            TrySetResult(result);
            Group.OnChildFinished();
            return;
        }

        Finish(ExceptionOf(inner), token);
    }

    private void Finish(Exception exception, CancellationToken token)
    {
        if (Group.IsCancellation(exception, token))
        {
            OnEnded(canceled: true);
            TrySetCanceled(token);
        }
        else if (OnFaulted(exception))
        {
            // The child reported the fault elsewhere (StartAsync before the ready signal): it is not the group's.
            TrySetException(exception);
            _ = Task.Exception;
        }
        else
        {
            Group.ReportFault(exception, Name);
            TrySetException(exception);

            // The group reports the fault; reading it here keeps an unawaited child task from being "unobserved".
            _ = Task.Exception;
        }

        Group.OnChildFinished();
    }

    /// <summary>The exception a completed, unsuccessful task ends with: the original one, as <c>await</c> would throw it.</summary>
    internal static Exception ExceptionOf(Task completed)
    {
        Debug.Assert(completed.IsCompleted && !completed.IsCompletedSuccessfully, "Only for completed, unsuccessful tasks.");
        if (completed.IsFaulted)
        {
            var aggregate = completed.Exception!;
            return aggregate.InnerExceptions.Count == 1 ? aggregate.InnerExceptions[0] : aggregate;
        }

        try
        {
            // The task is already cancelled: this rethrows its stored OperationCanceledException without blocking.
#pragma warning disable VSTHRD002 // The task has completed: GetResult does not block.
            completed.ConfigureAwait(false).GetAwaiter().GetResult();
#pragma warning restore VSTHRD002
            return new TaskCanceledException(completed);
        }
        catch (OperationCanceledException ex)
        {
            return ex;
        }
    }

    /// <summary>The result of a task that has already completed successfully (no blocking).</summary>
    internal static TResult CompletedResult<TResult>(Task<TResult> completed)
    {
        Debug.Assert(completed.IsCompletedSuccessfully, "Only for completed tasks.");
#pragma warning disable VSTHRD002 // The task has completed: GetResult does not block.
        return completed.ConfigureAwait(false).GetAwaiter().GetResult();
#pragma warning restore VSTHRD002
    }
}
