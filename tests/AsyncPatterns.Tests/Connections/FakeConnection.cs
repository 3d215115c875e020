using System.Collections.Concurrent;
using AsyncPatterns.Connections;
using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.Tests.Connections;

/// <summary>A connection that records whether it was disposed.</summary>
internal sealed class FakeConnection(int id) : IAsyncDisposable
{
    private int _disposeCount;

    public int Id { get; } = id;

    public int DisposeCount => Volatile.Read(ref _disposeCount);

    public bool Disposed => DisposeCount > 0;

    public ValueTask DisposeAsync()
    {
        Interlocked.Increment(ref _disposeCount);
        return default;
    }

    public override string ToString() => $"connection {Id}";
}

/// <summary>Creates numbered <see cref="FakeConnection"/>s; a test can script failures or hold creation at a gate.</summary>
internal sealed class FakeConnectionFactory
{
    private readonly ConcurrentQueue<Func<CancellationToken, Task>> _script = new();
    private int _next;
    private int _live;
    private int _peakLive;

    public ConcurrentQueue<FakeConnection> Created { get; } = new();

    public int CreateCalls => Volatile.Read(ref _next);

    public int PeakLive => Volatile.Read(ref _peakLive);

    /// <summary>Runs <paramref name="step"/> inside the next create call (throw to fail it, await a gate to hold it).</summary>
    public void Next(Func<CancellationToken, Task> step) => _script.Enqueue(step);

    public async ValueTask<FakeConnection> CreateAsync(CancellationToken cancellationToken)
    {
        var id = Interlocked.Increment(ref _next);
        if (_script.TryDequeue(out var step))
        {
            await step(cancellationToken);
        }

        var live = Interlocked.Increment(ref _live);
        int peak;
        while (live > (peak = Volatile.Read(ref _peakLive)) && Interlocked.CompareExchange(ref _peakLive, live, peak) != peak)
        {
        }

        var connection = new FakeConnection(id);
        Created.Enqueue(connection);
        return connection;
    }

    public ValueTask DestroyAsync(FakeConnection connection)
    {
        Interlocked.Decrement(ref _live);
        return connection.DisposeAsync();
    }

    public ConnectionPoolOptions<FakeConnection> Options(FakeTimeProvider? time = null, int maxSize = 5) => new()
    {
        CreateAsync = CreateAsync,
        DestroyAsync = DestroyAsync,
        MaxSize = maxSize,
        TimeProvider = (TimeProvider?)time ?? TimeProvider.System,
        MaxLifetimeJitter = 0,
        Name = "test-pool",
    };
}

/// <summary>
/// Disposes a pool while advancing its fake clock, so that a test that fails with a lease or a create still
/// outstanding ends instead of waiting for a drain timeout that fake time never reaches. Declare it right after the pool.
/// </summary>
internal sealed class ClockedDisposal(AsyncConnectionPool<FakeConnection> pool, FakeTimeProvider time) : IAsyncDisposable
{
    public async ValueTask DisposeAsync() =>
        await time.AdvanceUntilCompletedAsync(pool.DisposeAsync().AsTask(), TimeSpan.FromSeconds(1), maxSteps: 120);
}
