using System.Collections.Concurrent;
using AsyncPatterns.BackgroundTasks;
using BenchmarkDotNet.Attributes;

namespace AsyncPatterns.Benchmarks;

/// <summary>
/// Starting and completing 10,000 trivial background tasks: <see cref="BackgroundTaskTracker.TryStart"/> against the
/// hand-written pattern it replaces (<c>Task.Run</c> plus a <c>ConcurrentDictionary</c> of running tasks with a
/// continuation that removes each one). Each invocation ends when every task has run and been released by its
/// tracking. Figures are per task (<c>OperationsPerInvoke</c>).
/// </summary>
public class BackgroundTaskBenchmarks
{
    private const int Tasks = 10_000;

    private readonly ConcurrentDictionary<Task, byte> _running = new();
    private readonly Func<CancellationToken, Task> _trackedWork;
    private readonly Action _bareWork;
    private readonly Action<Task, object?> _untrack;
    private BackgroundTaskTracker _tracker = null!;
    private TaskCompletionSource _done = null!;
    private int _remaining;

    public BackgroundTaskBenchmarks()
    {
        _trackedWork = _ =>
        {
            Complete();
            return Task.CompletedTask;
        };
        _bareWork = Complete;
        _untrack = static (task, state) => ((ConcurrentDictionary<Task, byte>)state!).TryRemove(task, out _);
    }

    [GlobalSetup]
    public void Setup() =>
        _tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = Tasks, MaxQueued = 0 });

    [GlobalCleanup]
    public async Task CleanupAsync() => await _tracker.DisposeAsync();

    [IterationSetup]
    public void Reset()
    {
        _remaining = Tasks;
        _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Tasks)]
    public async Task TaskRunWithConcurrentDictionary()
    {
        for (var i = 0; i < Tasks; i++)
        {
            var task = Task.Run(_bareWork);
            _running.TryAdd(task, 0);
            _ = task.ContinueWith(_untrack, _running, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        // Done when every task has run and been released by its tracking.
        await _done.Task;
        while (!_running.IsEmpty)
        {
            await Task.Yield();
        }
    }

    [Benchmark(OperationsPerInvoke = Tasks)]
    public async Task TrackerTryStart()
    {
        for (var i = 0; i < Tasks; i++)
        {
            if (!_tracker.TryStart(_trackedWork, "bench"))
            {
                throw new InvalidOperationException("The tracker refused work: the benchmark's capacity is too small.");
            }
        }

        // Done when every task has run and been released by the tracker.
        await _done.Task;
        while (_tracker.InFlight != 0)
        {
            await Task.Yield();
        }
    }

    private void Complete()
    {
        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            _done.TrySetResult();
        }
    }
}
