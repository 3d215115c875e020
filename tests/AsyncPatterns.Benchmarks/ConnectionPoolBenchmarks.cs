using System.Collections.Concurrent;
using System.Threading.Channels;
using AsyncPatterns.Connections;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace AsyncPatterns.Benchmarks;

/// <summary>
/// AsyncConnectionPool against two hand-written pools: a bounded <see cref="Channel{T}"/> of connections, and
/// <see cref="SemaphoreSlim"/> + <see cref="ConcurrentBag{T}"/>. Uncontended: one acquire + return cycle. Contended:
/// 64 tasks share 8 connections, 100 cycles each (the reported time is per cycle).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class ConnectionPoolBenchmarks
{
    private const int Connections = 8;
    private const int Tasks = 64;
    private const int CyclesPerTask = 100;

    private AsyncConnectionPool<object> _pool = null!;
    private Channel<object> _channel = null!;
    private SemaphoreSlim _semaphore = null!;
    private ConcurrentBag<object> _bag = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pool = new AsyncConnectionPool<object>(new ConnectionPoolOptions<object>
        {
            CreateAsync = static _ => ValueTask.FromResult(new object()),
            MaxSize = Connections,
            MinSize = Connections,
            IdleTimeout = Timeout.InfiniteTimeSpan,
            MaxLifetime = Timeout.InfiniteTimeSpan,
        });
        _channel = Channel.CreateBounded<object>(Connections);
        _semaphore = new SemaphoreSlim(Connections, Connections);
        _bag = [];
        for (var i = 0; i < Connections; i++)
        {
            _channel.Writer.TryWrite(new object());
            _bag.Add(new object());
        }

        while (_pool.Statistics.Idle < Connections)
        {
            Thread.Yield();
        }
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _pool.DisposeAsync();
        _semaphore.Dispose();
    }

    [Benchmark(Baseline = true, Description = "Channel<T> pool")]
    [BenchmarkCategory("Uncontended")]
    public async ValueTask<object> ChannelUncontended()
    {
        var connection = await _channel.Reader.ReadAsync();
        _channel.Writer.TryWrite(connection);
        return connection;
    }

    [Benchmark(Description = "SemaphoreSlim + ConcurrentBag")]
    [BenchmarkCategory("Uncontended")]
    public async ValueTask<object> SemaphoreBagUncontended()
    {
        await _semaphore.WaitAsync();
        _bag.TryTake(out var connection);
        _bag.Add(connection!);
        _semaphore.Release();
        return connection!;
    }

    [Benchmark(Description = "AsyncConnectionPool")]
    [BenchmarkCategory("Uncontended")]
    public async ValueTask<object> PoolUncontended()
    {
        var lease = await _pool.AcquireAsync();
        var connection = lease.Connection;
        await lease.DisposeAsync();
        return connection;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Tasks * CyclesPerTask, Description = "Channel<T> pool")]
    [BenchmarkCategory("Contended 64 tasks / 8 connections")]
    public Task ChannelContended() => RunContendedAsync(async () =>
    {
        var connection = await _channel.Reader.ReadAsync();
        await Task.Yield();
        _channel.Writer.TryWrite(connection);
    });

    [Benchmark(OperationsPerInvoke = Tasks * CyclesPerTask, Description = "SemaphoreSlim + ConcurrentBag")]
    [BenchmarkCategory("Contended 64 tasks / 8 connections")]
    public Task SemaphoreBagContended() => RunContendedAsync(async () =>
    {
        await _semaphore.WaitAsync();
        _bag.TryTake(out var connection);
        await Task.Yield();
        _bag.Add(connection!);
        _semaphore.Release();
    });

    [Benchmark(OperationsPerInvoke = Tasks * CyclesPerTask, Description = "AsyncConnectionPool")]
    [BenchmarkCategory("Contended 64 tasks / 8 connections")]
    public Task PoolContended() => RunContendedAsync(async () =>
    {
        var lease = await _pool.AcquireAsync();
        await Task.Yield();
        await lease.DisposeAsync();
    });

    private static Task RunContendedAsync(Func<Task> cycle)
    {
        var tasks = new Task[Tasks];
        for (var t = 0; t < Tasks; t++)
        {
            tasks[t] = Task.Run(async () =>
            {
                for (var i = 0; i < CyclesPerTask; i++)
                {
                    await cycle();
                }
            });
        }

        return Task.WhenAll(tasks);
    }
}
