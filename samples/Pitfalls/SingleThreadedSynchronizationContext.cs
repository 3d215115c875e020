using System.Collections.Concurrent;

namespace AsyncPatterns.Samples.Pitfalls;

/// <summary>
/// A synchronization context with one thread, like a UI thread or classic ASP.NET's request context: every
/// continuation that captured it is queued and run, one at a time, on that thread only.
/// </summary>
internal sealed class SingleThreadedSynchronizationContext : SynchronizationContext
{
    private readonly BlockingCollection<(SendOrPostCallback Callback, object? State)> _queue = [];

    /// <summary>Continuations waiting for the context's thread.</summary>
    public int Pending => _queue.Count;

    /// <summary>Starts a dedicated thread that runs <paramref name="main"/> under a new context and then pumps it until the task completes.</summary>
    /// <returns>The context, and a task that completes when the thread is done.</returns>
    public static (SingleThreadedSynchronizationContext Context, Task Completion) Start(Func<Task> main)
    {
        var context = new SingleThreadedSynchronizationContext();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            SetSynchronizationContext(context);
            try
            {
                var task = main();
                task.ConfigureAwait(false).GetAwaiter().OnCompleted(context._queue.CompleteAdding); // stop pumping when main is done
                foreach (var (callback, state) in context._queue.GetConsumingEnumerable())
                {
                    callback(state);
                }

                task.GetAwaiter().GetResult(); // the task is complete here: this only rethrows its exception
                done.SetResult();
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        })
        {
            IsBackground = true,
            Name = "single-threaded context",
        };
        thread.Start();
        return (context, done.Task);
    }

    public override void Post(SendOrPostCallback d, object? state) => _queue.Add((d, state));

    public override void Send(SendOrPostCallback d, object? state) =>
        throw new NotSupportedException("Send would block the caller on the context's thread.");

    public override SynchronizationContext CreateCopy() => this;

    /// <summary>Runs the queued continuations on the calling thread: how the demo breaks a deadlock it detected.</summary>
    public void RunPendingOnCurrentThread()
    {
        while (_queue.TryTake(out var item))
        {
            item.Callback(item.State);
        }
    }
}
