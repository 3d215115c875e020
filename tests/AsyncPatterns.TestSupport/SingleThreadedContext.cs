using System.Collections.Concurrent;

namespace AsyncPatterns.TestSupport;

/// <summary>
/// A <see cref="SynchronizationContext"/> with one thread, like a UI thread or classic ASP.NET: continuations that
/// capture it queue back to that one thread. Library code that blocks on async work deadlocks here; code that uses
/// <c>ConfigureAwait(false)</c> and never blocks completes. <see cref="RunAsync"/> detects a deadlock with a timeout
/// instead of hanging the test.
/// </summary>
public sealed class SingleThreadedContext : SynchronizationContext
{
    private readonly BlockingCollection<(SendOrPostCallback Callback, object? State)> _queue = [];
    private int _operations;

    private SingleThreadedContext()
    {
    }

    /// <summary>The managed thread id of the context's thread.</summary>
    public int ThreadId { get; private set; }

    /// <summary>
    /// Runs <paramref name="action"/> on a new thread under a single-threaded context and returns when it completes.
    /// Throws <see cref="TimeoutException"/> when it has not completed within <paramref name="timeout"/> (a deadlock).
    /// </summary>
    public static Task RunAsync(Func<Task> action, TimeSpan timeout) => RunAsync(async () =>
    {
        await action();
        return true;
    }, timeout);

    /// <summary>Runs <paramref name="action"/> under a single-threaded context; see <see cref="RunAsync(Func{Task}, TimeSpan)"/>.</summary>
    public static async Task<T> RunAsync<T>(Func<Task<T>> action, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(action);
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var context = new SingleThreadedContext();
        var thread = new Thread(() => context.Pump(action, result)) { IsBackground = true, Name = "SingleThreadedContext" };
        thread.Start();
        try
        {
            return await result.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            context._queue.CompleteAdding();
            throw new TimeoutException($"The operation did not complete within {timeout} under a single-threaded SynchronizationContext: it deadlocked or blocked its thread.");
        }
    }

    /// <inheritdoc />
    public override void Post(SendOrPostCallback d, object? state)
    {
        try
        {
            _queue.Add((d, state));
        }
        catch (InvalidOperationException)
        {
            // The context has been shut down after a detected deadlock; the callback is dropped with it.
        }
    }

    /// <inheritdoc />
    public override void Send(SendOrPostCallback d, object? state) =>
        throw new NotSupportedException("Synchronous Send to a single-threaded context would deadlock.");

    /// <inheritdoc />
    public override void OperationStarted() => Interlocked.Increment(ref _operations);

    /// <inheritdoc />
    public override void OperationCompleted() => Interlocked.Decrement(ref _operations);

    /// <inheritdoc />
    public override SynchronizationContext CreateCopy() => this;

    private void Pump<T>(Func<Task<T>> action, TaskCompletionSource<T> result)
    {
        ThreadId = Environment.CurrentManagedThreadId;
        SetSynchronizationContext(this);
        Task<T> task;
        try
        {
            task = action();
        }
        catch (Exception ex)
        {
            result.TrySetException(ex);
            return;
        }

        _ = task.ContinueWith(_ => _queue.CompleteAdding(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        foreach (var (callback, state) in _queue.GetConsumingEnumerable())
        {
            callback(state);
        }

        if (task.IsCompleted)
        {
            // The task completed: copy its outcome (the await inside observes it).
            _ = result.TrySetFromTaskAsync(task);
        }
    }
}

internal static class TaskCompletionSourceExtensions
{
    public static async Task TrySetFromTaskAsync<T>(this TaskCompletionSource<T> source, Task<T> task)
    {
        try
        {
            source.TrySetResult(await task.ConfigureAwait(false));
        }
        catch (OperationCanceledException ex)
        {
            source.TrySetCanceled(ex.CancellationToken);
        }
        catch (Exception ex)
        {
            source.TrySetException(ex);
        }
    }
}
