using AsyncPatterns.Connections;

namespace AsyncPatterns.Tests.Connections;

[CollectionDefinition(nameof(ConnectionPoolAllocationTests), DisableParallelization = true)]
public sealed class ConnectionPoolAllocationCollection;

/// <summary>
/// What acquiring costs in memory, measured process-wide (this class runs alone: its collection disables
/// parallelization). A queued acquire reuses its waiter and its pooled state machine, and all acquire timeouts share one
/// timer, so a cycle through the waiter queue allocates almost nothing and nothing is retained.
/// </summary>
[Collection(nameof(ConnectionPoolAllocationTests))]
public sealed class ConnectionPoolAllocationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

#if DEBUG
    // A Debug build compiles async state machines as classes: the test's own and the pool's add about 150 B a cycle.
    private const double MaxBytesPerQueuedCycle = 400;
#else
    private const double MaxBytesPerQueuedCycle = 200;
#endif

    [Fact]
    public async Task AcquireAsync_QueuedWithAcquireTimeout_AllocatesNoWaiterTimerOrTokenSourcePerCycle()
    {
        await using var pool = Pool(TimeSpan.FromSeconds(30));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct); // a cancellable token: registered, not linked
        await RunCyclesAsync(pool, 1_000, cts.Token); // warm-up: JIT, the pooled state machines, the free waiters

        const int cycles = 10_000;
        var before = GC.GetTotalAllocatedBytes(precise: true);
        await RunCyclesAsync(pool, cycles, cts.Token);
        var perCycle = (GC.GetTotalAllocatedBytes(precise: true) - before) / (double)cycles;

        // Before the reusable waiter, a queued acquire allocated about 900 B: a TaskCompletionSource, a list node, the
        // async state machine, a timer-backed CancellationTokenSource and a linked one. What is left is the test's own
        // awaits and the thread-pool work items that run continuations asynchronously.
        perCycle.Should().BeLessThan(MaxBytesPerQueuedCycle, $"a queued acquire + return allocated {perCycle:F0} B per cycle");
    }

    [Fact]
    public async Task AcquireAsync_100000QueuedCycles_RetainNoMemory()
    {
        await using var pool = Pool(TimeSpan.FromSeconds(30));
        await RunCyclesAsync(pool, 1_000, Ct);
        var before = GC.GetTotalMemory(forceFullCollection: true);

        await RunCyclesAsync(pool, 100_000, Ct);
        var retained = GC.GetTotalMemory(forceFullCollection: true) - before;

        retained.Should().BeLessThan(256 * 1024, "waiters are recycled through a bounded free list, nothing grows with the number of acquires");
        var stats = pool.Statistics;
        (stats.Idle, stats.Busy, stats.Waiting, stats.TotalCreated).Should().Be((1, 0, 0, 1L));
    }

    private static AsyncConnectionPool<object> Pool(TimeSpan acquireTimeout) => new(new ConnectionPoolOptions<object>
    {
        CreateAsync = static _ => ValueTask.FromResult(new object()),
        MaxSize = 1,
        AcquireTimeout = acquireTimeout,
    });

    /// <summary>
    /// Each cycle goes through the waiter queue: the one connection is leased, a second acquire queues, the lease is
    /// returned and handed to that waiter.
    /// </summary>
    private static async Task RunCyclesAsync(AsyncConnectionPool<object> pool, int cycles, CancellationToken token)
    {
        var lease = await pool.AcquireAsync(token);
        for (var i = 0; i < cycles; i++)
        {
            var next = pool.AcquireAsync(token);
            if (next.IsCompleted)
            {
                throw new InvalidOperationException("the acquire should have queued behind the one lease");
            }

            await lease.DisposeAsync();
            lease = await next;
        }

        await lease.DisposeAsync();
    }
}
