using AsyncPatterns.TaskGroups;
using BenchmarkDotNet.Attributes;

namespace AsyncPatterns.Benchmarks;

/// <summary>
/// 1,000 children under <see cref="TaskGroup.RunAsync(Func{TaskGroup, Task}, TaskGroupOptions?, CancellationToken)"/>
/// against the hand-written equivalent: children started on the thread pool with <c>Task.Run</c>, a linked
/// <see cref="CancellationTokenSource"/> cancelled on the first fault, and <c>Task.WhenAll</c>.
/// </summary>
[MemoryDiagnoser]
public class TaskGroupBenchmarks
{
    private const int Children = 1_000;

    private static readonly Func<CancellationToken, Task> s_immediate = static _ => Task.CompletedTask;
    private static readonly Func<CancellationToken, Task> s_yieldOnce = static async _ => await Task.Yield();

    private Func<CancellationToken, Task> _child = s_immediate;

    /// <summary>Children that complete immediately, or that yield once before completing.</summary>
    [Params("Immediate", "YieldOnce")]
    public string Child { get; set; } = "Immediate";

    [GlobalSetup]
    public void Setup() => _child = Child == "Immediate" ? s_immediate : s_yieldOnce;

    [Benchmark(Baseline = true, Description = "Task.Run + WhenAll + linked CTS")]
    public async Task WhenAllWithLinkedCts()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(CancellationToken.None);
        var child = _child;
        var tasks = new Task[Children];
        for (var i = 0; i < Children; i++)
        {
            tasks[i] = Task.Run(async () =>
            {
                try
                {
                    await child(cts.Token);
                }
                catch
                {
                    await cts.CancelAsync();
                    throw;
                }
            });
        }

        await Task.WhenAll(tasks);
    }

    [Benchmark(Description = "TaskGroup.RunAsync")]
    public Task TaskGroupRunAsync()
    {
        var child = _child;
        return TaskGroup.RunAsync(group =>
        {
            for (var i = 0; i < Children; i++)
            {
                _ = group.Run(child);
            }

            return Task.CompletedTask;
        });
    }
}

/// <summary>
/// 10,000 items with at most 16 at once, results in input order: <see cref="TaskGroup.ForEachAsync{TSource, TResult}(IEnumerable{TSource}, int, Func{TSource, CancellationToken, Task{TResult}}, CancellationToken)"/>
/// against <see cref="Parallel.ForEachAsync{TSource}(IEnumerable{TSource}, ParallelOptions, Func{TSource, CancellationToken, ValueTask})"/>
/// (writing results by index) and against <see cref="SemaphoreSlim"/> + <c>Task.WhenAll</c>, the bounded gather of Python's asyncio.
/// </summary>
[MemoryDiagnoser]
public class TaskGroupForEachBenchmarks
{
    private const int Items = 10_000;
    private const int MaxConcurrency = 16;

    private readonly int[] _items = Enumerable.Range(0, Items).ToArray();

    private static async Task<int> BodyAsync(int item, CancellationToken cancellationToken)
    {
        await Task.Yield();
        return item * 2;
    }

    [Benchmark(Baseline = true, Description = "Parallel.ForEachAsync")]
    public async Task<int[]> ParallelForEachAsync()
    {
        var results = new int[Items];
        await Parallel.ForEachAsync(
            _items,
            new ParallelOptions { MaxDegreeOfParallelism = MaxConcurrency },
            async (item, token) => results[item] = await BodyAsync(item, token));
        return results;
    }

    [Benchmark(Description = "SemaphoreSlim + WhenAll")]
    public async Task<int[]> SemaphoreWhenAll()
    {
        using var semaphore = new SemaphoreSlim(MaxConcurrency);
        var tasks = new Task<int>[Items];
        for (var i = 0; i < Items; i++)
        {
            tasks[i] = RunOneAsync(_items[i]);
        }

        return await Task.WhenAll(tasks);

        async Task<int> RunOneAsync(int item)
        {
            await semaphore.WaitAsync();
            try
            {
                return await BodyAsync(item, CancellationToken.None);
            }
            finally
            {
                semaphore.Release();
            }
        }
    }

    [Benchmark(Description = "TaskGroup.ForEachAsync")]
    public Task<IReadOnlyList<int>> TaskGroupForEachAsync() =>
        TaskGroup.ForEachAsync(_items, MaxConcurrency, BodyAsync);
}
