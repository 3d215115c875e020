using AsyncPatterns.Connections;

namespace AsyncPatterns.Tests.Connections;

/// <summary>
/// A retired connection keeps its MaxSize slot until its destroy hook has finished: the server never sees more than
/// MaxSize connections from one pool, even while a slow close is in progress.
/// </summary>
public sealed class ConnectionPoolDestroyingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task DisposeAsync_CreateFinishingAfterDisposalWhileItsDestroyHangs_CountsAsDrainedAtOnce()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time, maxSize: 1);
        options.DrainTimeout = TimeSpan.FromSeconds(10);
        var createGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var destroying = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var destroyGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        factory.Next(_ => createGate.Task);
        options.DestroyAsync = async connection =>
        {
            destroying.TrySetResult();
            await destroyGate.Task;
            await factory.DestroyAsync(connection);
        };
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        var acquiring = pool.AcquireAsync(Ct).AsTask();
        await FakeClock.WaitUntilAsync(() => factory.CreateCalls == 1, cancellationToken: Ct);
        var disposing = pool.DisposeAsync().AsTask();

        createGate.SetResult(); // the connection arrives after disposal began and goes straight to its destroy hook
        await destroying.Task.WaitAsync(FakeClock.HangTimeout, Ct);

        try
        {
            // Nothing is leased or being created any more, so only the cleanup's DrainTimeout is left to wait: 10 s, not
            // 20 s. The bound of 19 steps leaves room for a timer armed on the thread pool a few steps late.
            await time.AdvanceUntilCompletedAsync(disposing, TimeSpan.FromSeconds(1), maxSteps: 19);
        }
        finally
        {
            destroyGate.TrySetResult();
        }

        await acquiring.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ObjectDisposedException>();
        factory.Created.Single().Disposed.Should().BeTrue();
    }

    [Fact]
    public async Task AcquireAsync_InvalidatedConnectionStillBeingDestroyed_WaitsForItsSlot()
    {
        var (factory, gate, options) = GatedDestroy(maxSize: 1);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var release = Release(gate);
        var lease = await pool.AcquireAsync(Ct);
        lease.Invalidate();
        var returning = lease.DisposeAsync().AsTask();

        var next = pool.AcquireAsync(Ct).AsTask();

        returning.IsCompleted.Should().BeFalse("the destroy hook is still running");
        next.IsCompleted.Should().BeFalse("the only slot belongs to the connection being destroyed");
        var statistics = pool.Statistics;
        statistics.Destroying.Should().Be(1);
        statistics.Waiting.Should().Be(1);
        factory.CreateCalls.Should().Be(1);

        gate.TrySetResult();
        await returning.WaitAsync(FakeClock.HangTimeout, Ct);
        await using var replacement = await next.WaitAsync(FakeClock.HangTimeout, Ct);

        replacement.Connection.Id.Should().Be(2);
        factory.PeakLive.Should().Be(1, "the replacement was only opened after the first connection was closed");
        pool.Statistics.Destroying.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_IdleConnectionFailsValidationInAFullPool_IsClosedBeforeItsReplacementOpens()
    {
        var time = FakeClock.Create();
        var (factory, gate, options) = GatedDestroy(maxSize: 1, time);
        options.ValidateAfterIdle = TimeSpan.FromSeconds(1);
        options.ValidateAsync = (c, _) => ValueTask.FromResult(c.Id != 1);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var release = Release(gate);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();
        await time.AdvanceAsync(TimeSpan.FromSeconds(2));

        var acquiring = pool.AcquireAsync(Ct).AsTask();
        var waiter = pool.AcquireAsync(Ct).AsTask();

        acquiring.IsCompleted.Should().BeFalse("connection 1 failed validation and is still being closed");
        pool.Statistics.Destroying.Should().Be(1);
        factory.CreateCalls.Should().Be(1);

        gate.TrySetResult();
        var lease = await acquiring.WaitAsync(FakeClock.HangTimeout, Ct);
        lease.Connection.Id.Should().Be(2, "the caller keeps its turn and creates in the freed slot");
        waiter.IsCompleted.Should().BeFalse("the freed slot went to the caller whose connection failed, not to the waiter");
        factory.PeakLive.Should().Be(1);

        await lease.DisposeAsync();
        await using var second = await waiter.WaitAsync(FakeClock.HangTimeout, Ct);
        second.Connection.Id.Should().Be(2);
    }

    [Fact]
    public async Task AcquireAsync_ExpiredIdleConnectionStillBeingDestroyed_WaitsForItsSlot()
    {
        var time = FakeClock.Create();
        var (factory, gate, options) = GatedDestroy(maxSize: 1, time);
        options.MaxLifetime = TimeSpan.FromMinutes(10);
        options.IdleTimeout = Timeout.InfiniteTimeSpan;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var release = Release(gate);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();
        time.Advance(TimeSpan.FromMinutes(10)); // no settling: the acquire itself finds the connection expired

        var next = pool.AcquireAsync(Ct).AsTask();

        await FakeClock.WaitUntilAsync(() => pool.Statistics.Destroying == 1, cancellationToken: Ct);
        next.IsCompleted.Should().BeFalse();
        factory.CreateCalls.Should().Be(1);

        gate.TrySetResult();
        await using var lease = await next.WaitAsync(FakeClock.HangTimeout, Ct);
        lease.Connection.Id.Should().Be(2);
        factory.PeakLive.Should().Be(1);
    }

    [Fact]
    public async Task Clear_IdleConnectionsStillBeingDestroyed_KeepTheirSlots()
    {
        var (factory, gate, options) = GatedDestroy(maxSize: 2);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var release = Release(gate);
        var a = await pool.AcquireAsync(Ct);
        var b = await pool.AcquireAsync(Ct);
        await a.DisposeAsync();
        await b.DisposeAsync();

        pool.Clear();
        var next = pool.AcquireAsync(Ct).AsTask();

        await FakeClock.WaitUntilAsync(() => pool.Statistics.Destroying == 2, cancellationToken: Ct);
        next.IsCompleted.Should().BeFalse();
        pool.Statistics.Idle.Should().Be(0);

        gate.TrySetResult();
        await using var lease = await next.WaitAsync(FakeClock.HangTimeout, Ct);
        lease.Connection.Id.Should().Be(3);
        factory.PeakLive.Should().Be(2);
        await FakeClock.WaitUntilAsync(() => pool.Statistics.Destroying == 0, cancellationToken: Ct);
    }

    [Fact]
    public async Task Housekeeping_IdleEvictionWhileDestroyHooksRun_StillKeepsMinSizeOpen()
    {
        var time = FakeClock.Create();
        var (factory, gate, options) = GatedDestroy(maxSize: 5, time);
        options.MinSize = 1;
        options.IdleTimeout = TimeSpan.FromMinutes(1);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var release = Release(gate);
        await FakeClock.WaitUntilAsync(() => pool.Statistics.Idle == 1, cancellationToken: Ct);
        var leases = new List<PooledConnection<FakeConnection>>();
        for (var i = 0; i < 3; i++)
        {
            leases.Add(await pool.AcquireAsync(Ct));
        }

        foreach (var lease in leases)
        {
            await lease.DisposeAsync();
        }

        await time.AdvanceAsync(TimeSpan.FromMinutes(5));

        var statistics = pool.Statistics;
        statistics.Idle.Should().Be(1, "eviction stops at MinSize open connections, whatever is still being closed: {0}", statistics);
        statistics.Destroying.Should().Be(2);
        statistics.TotalDestroyed.Should().Be(2);
        gate.TrySetResult();
        await FakeClock.WaitUntilAsync(() => pool.Statistics.Destroying == 0, cancellationToken: Ct);
        factory.CreateCalls.Should().Be(3, "no refill was needed: MinSize stayed open throughout");
    }

    [Fact]
    public async Task Housekeeping_MinSizeRefillAfterARetirement_WaitsForTheDestroyHook()
    {
        var (factory, gate, options) = GatedDestroy(maxSize: 1);
        options.MinSize = 1;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var release = Release(gate);
        await FakeClock.WaitUntilAsync(() => pool.Statistics.Idle == 1, cancellationToken: Ct);

        pool.Clear();

        await FakeClock.WaitUntilAsync(() => pool.Statistics.Destroying == 1, cancellationToken: Ct);
        factory.CreateCalls.Should().Be(1, "the slot is still held by the connection being destroyed");
        gate.TrySetResult();
        await FakeClock.WaitUntilAsync(() => pool.Statistics.Idle == 1 && pool.Statistics.Destroying == 0, cancellationToken: Ct);
        factory.CreateCalls.Should().Be(2);
        factory.PeakLive.Should().Be(1);
    }

    [Fact]
    public async Task Statistics_ToString_IncludesDestroying()
    {
        var (_, gate, options) = GatedDestroy(maxSize: 1);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var release = Release(gate);
        var lease = await pool.AcquireAsync(Ct);
        lease.Invalidate();
        var returning = lease.DisposeAsync().AsTask();

        pool.Statistics.ToString().Should().Be("Idle=0 Busy=0 Creating=0 Destroying=1 Waiting=0 TotalCreated=1 TotalDestroyed=1 Timeouts=0");
        gate.TrySetResult();
        await returning.WaitAsync(FakeClock.HangTimeout, Ct);
    }

    /// <summary>Opens the gate when disposed (declared after the pool, so it runs first): a failed assertion must not leave the pool's disposal waiting on a destroy hook forever.</summary>
    private static GateRelease Release(TaskCompletionSource gate) => new(gate);

    private sealed class GateRelease(TaskCompletionSource gate) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            gate.TrySetResult();
            return default;
        }
    }

    private static (FakeConnectionFactory Factory, TaskCompletionSource Gate, ConnectionPoolOptions<FakeConnection> Options) GatedDestroy(
        int maxSize, Microsoft.Extensions.Time.Testing.FakeTimeProvider? time = null)
    {
        var factory = new FakeConnectionFactory();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = factory.Options(time ?? FakeClock.Create(), maxSize);
        options.AcquireTimeout = Timeout.InfiniteTimeSpan;
        options.DestroyAsync = async connection =>
        {
            await gate.Task;
            await factory.DestroyAsync(connection);
        };
        return (factory, gate, options);
    }
}
