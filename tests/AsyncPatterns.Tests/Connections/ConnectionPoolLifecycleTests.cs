using AsyncPatterns.Connections;
using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.Tests.Connections;

/// <summary>
/// The pool's bookkeeping when things happen at awkward moments: disposal while a connection is being created,
/// validated or reset, background refills racing with callers, hooks that fail.
/// </summary>
public sealed class ConnectionPoolLifecycleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task DisposeAsync_CalledTwiceWhileALeaseIsOut_BothCompleteWhenTheLeaseReturns()
    {
        var factory = new FakeConnectionFactory();
        var pool = new AsyncConnectionPool<FakeConnection>(factory.Options(FakeClock.Create()));
        var lease = await pool.AcquireAsync(Ct);

        var first = pool.DisposeAsync().AsTask();
        var second = pool.DisposeAsync().AsTask();
        first.IsCompleted.Should().BeFalse();
        second.IsCompleted.Should().BeFalse();
        await lease.DisposeAsync();

        await Task.WhenAll(first, second).WaitAsync(FakeClock.HangTimeout, Ct);
        factory.Created.Single().DisposeCount.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_NoTokenAndNoConnectionWithinAcquireTimeout_ThrowsConnectionPoolTimeoutException()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time, maxSize: 1);
        options.AcquireTimeout = TimeSpan.FromSeconds(5);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var held = await pool.AcquireAsync(Ct);

        var waiting = pool.AcquireAsync(CancellationToken.None).AsTask();
        await time.AdvanceAsync(TimeSpan.FromSeconds(5));

        await waiting.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ConnectionPoolTimeoutException>();
        pool.Statistics.Waiting.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_CreateHookThrowsItsOwnOperationCanceledException_ReachesTheCallerAsIs()
    {
        var factory = new FakeConnectionFactory();
        factory.Next(_ => throw new OperationCanceledException("server cancelled the handshake"));
        var options = factory.Options(FakeClock.Create());
        options.AcquireTimeout = TimeSpan.FromSeconds(5);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);

        var act = async () => await pool.AcquireAsync(Ct);

        var ex = (await act.Should().ThrowAsync<OperationCanceledException>()).Which;
        ex.Should().NotBeOfType<ConnectionPoolTimeoutException>();
        ex.Message.Should().Be("server cancelled the handshake");
        pool.Statistics.Timeouts.Should().Be(0);
    }

    [Fact]
    public async Task ReturnAsync_DisposableOnlyConnectionWithoutDestroyHook_IsDisposed()
    {
        var created = new List<SyncConnection>();
        var options = new ConnectionPoolOptions<SyncConnection>
        {
            CreateAsync = _ =>
            {
                var c = new SyncConnection();
                created.Add(c);
                return ValueTask.FromResult(c);
            },
            TimeProvider = FakeClock.Create(),
        };
        await using var pool = new AsyncConnectionPool<SyncConnection>(options);
        var lease = await pool.AcquireAsync(Ct);
        lease.Invalidate();

        await lease.DisposeAsync();

        created.Single().Disposed.Should().BeTrue();
    }

    [Fact]
    public async Task AcquireAsync_PoolDisposedWhileTheCallersConnectionIsBeingCreated_DestroysItAndThrowsObjectDisposed()
    {
        var factory = new FakeConnectionFactory();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        factory.Next(_ => gate.Task);
        var pool = new AsyncConnectionPool<FakeConnection>(factory.Options(FakeClock.Create()));
        var acquiring = pool.AcquireAsync(Ct).AsTask();

        var disposing = pool.DisposeAsync().AsTask();
        disposing.IsCompleted.Should().BeFalse("a connection is still being created for a caller");
        gate.SetResult();

        await acquiring.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ObjectDisposedException>();
        await disposing.WaitAsync(FakeClock.HangTimeout, Ct);
        factory.Created.Single().DisposeCount.Should().Be(1);
        pool.Statistics.TotalCreated.Should().Be(1);
        pool.Statistics.TotalDestroyed.Should().Be(1);
    }

    [Fact]
    public async Task DisposeAsync_CallersCreateFailsWhileDisposing_CompletesWithoutWaitingForTheDrainTimeout()
    {
        var factory = new FakeConnectionFactory();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        factory.Next(async _ =>
        {
            await gate.Task;
            throw new IOException("refused");
        });
        var pool = new AsyncConnectionPool<FakeConnection>(factory.Options(FakeClock.Create()));
        var acquiring = pool.AcquireAsync(Ct).AsTask();

        var disposing = pool.DisposeAsync().AsTask();
        gate.SetResult();

        await acquiring.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<IOException>();
        await disposing.WaitAsync(FakeClock.HangTimeout, Ct);
        pool.Statistics.Creating.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_PoolDisposedWhileValidating_ThrowsObjectDisposedAndDisposalCompletes()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        var validating = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        options.ValidateAfterIdle = TimeSpan.Zero;
        options.ValidateAsync = (_, _) => new ValueTask<bool>(validating.Task);
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();
        var acquiring = pool.AcquireAsync(Ct).AsTask();

        var disposing = pool.DisposeAsync().AsTask();
        validating.SetResult(false);

        await acquiring.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ObjectDisposedException>();
        await disposing.WaitAsync(FakeClock.HangTimeout, Ct);
        await FakeClock.WaitUntilAsync(() => factory.Created.Single().Disposed, cancellationToken: Ct);
        factory.CreateCalls.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_PoolDisposedWhileTheFailedConnectionIsClosed_ThrowsObjectDisposedWithoutCreating()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        var closing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        options.ValidateAfterIdle = TimeSpan.Zero;
        options.ValidateAsync = (_, _) => ValueTask.FromResult(false);
        options.DestroyAsync = async c =>
        {
            await closing.Task;
            await factory.DestroyAsync(c);
        };
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();
        var acquiring = pool.AcquireAsync(Ct).AsTask();
        pool.Statistics.Destroying.Should().Be(1, "connection 1 failed validation and is being closed");

        var disposing = pool.DisposeAsync().AsTask();
        closing.SetResult();

        await acquiring.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ObjectDisposedException>();
        await disposing.WaitAsync(FakeClock.HangTimeout, Ct);
        factory.CreateCalls.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_CallerCancelsWhileValidating_ConnectionGoesBackUnchanged()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.ValidateAfterIdle = TimeSpan.Zero;
        options.ValidateAsync = async (_, ct) =>
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, time, ct);
            return true;
        };
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var acquiring = pool.AcquireAsync(cts.Token).AsTask();

        await cts.CancelAsync();

        (await acquiring.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>())
            .Which.CancellationToken.Should().Be(cts.Token);
        pool.Statistics.Idle.Should().Be(1);
        pool.Statistics.TotalDestroyed.Should().Be(0);
        factory.Created.Single().Disposed.Should().BeFalse();
    }

    [Fact]
    public async Task AcquireAsync_FailedValidationFindsTheNextIdleConnectionExpired_DestroysBoth()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.MaxLifetime = TimeSpan.FromMinutes(10); // housekeeping every 30 seconds
        options.IdleTimeout = Timeout.InfiniteTimeSpan;
        options.ValidateAfterIdle = TimeSpan.FromSeconds(1);
        options.ValidateAsync = (c, _) => ValueTask.FromResult(c.Id != 2);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await time.AdvanceAsync(TimeSpan.FromSeconds(70));
        var first = await pool.AcquireAsync(Ct); // connection 1 expires at 11:10
        await time.AdvanceAsync(TimeSpan.FromMinutes(4));
        var second = await pool.AcquireAsync(Ct); // connection 2 expires at 15:10
        await first.DisposeAsync();
        await second.DisposeAsync(); // idle: [1, 2], 2 on top

        await time.AdvanceAsync(TimeSpan.FromSeconds(350)); // 11:00: a housekeeping pass finds both alive
        time.Advance(TimeSpan.FromSeconds(10)); // 11:10, between two passes: 2 fails validation, 1 has just expired
        await using var lease = await pool.AcquireAsync(Ct).AsTask().WaitAsync(FakeClock.HangTimeout, Ct);

        lease.Connection.Id.Should().Be(3);
        await FakeClock.WaitUntilAsync(() => factory.Created.Count(c => c.Disposed) == 2 && pool.Statistics.Destroying == 0, cancellationToken: Ct);
        pool.Statistics.TotalDestroyed.Should().Be(2);
    }

    [Fact]
    public async Task ReturnAsync_LeaseReclaimedByDisposalWhileItsResetRuns_IsDestroyedOnlyOnce()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.DrainTimeout = TimeSpan.FromSeconds(10);
        var resetting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        options.ResetAsync = async (_, _) => await resetting.Task;
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        var lease = await pool.AcquireAsync(Ct);
        var returning = lease.DisposeAsync().AsTask();

        var disposing = pool.DisposeAsync().AsTask();
        await time.AdvanceUntilCompletedAsync(disposing, TimeSpan.FromSeconds(1));
        resetting.SetResult();
        await returning.WaitAsync(FakeClock.HangTimeout, Ct);

        factory.Created.Single().DisposeCount.Should().Be(1);
        pool.Statistics.TotalDestroyed.Should().Be(1);
        pool.Statistics.Destroying.Should().Be(0);
    }

    [Fact]
    public async Task Housekeeping_IdleEviction_CountsConnectionsBeingCreatedTowardsMinSize()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.MinSize = 1;
        options.IdleTimeout = TimeSpan.FromMinutes(1);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var disposal = new ClockedDisposal(pool, time);
        await FakeClock.WaitUntilAsync(() => pool.Statistics.Idle == 1, cancellationToken: Ct);
        var lease = await pool.AcquireAsync(Ct);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        factory.Next(_ => gate.Task);
        var creating = pool.AcquireAsync(Ct).AsTask();
        await lease.DisposeAsync(); // idle 1, creating 1

        await time.AdvanceAsync(TimeSpan.FromMinutes(2));

        pool.Statistics.Idle.Should().Be(0, "the connection being created keeps MinSize, so the idle one is evicted");
        pool.Statistics.TotalDestroyed.Should().Be(1);
        gate.SetResult();
        await using var created = await creating.WaitAsync(FakeClock.HangTimeout, Ct);
        created.Connection.Id.Should().Be(2);
    }

    [Fact]
    public async Task Housekeeping_MinSizeRefill_AddsAnOpenIdleConnectionAndCountsIt()
    {
        var factory = new FakeConnectionFactory();
        var options = factory.Options(FakeClock.Create());
        options.MinSize = 1;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);

        await FakeClock.WaitUntilAsync(() => pool.Statistics.Idle == 1 && pool.Statistics.Creating == 0, cancellationToken: Ct);

        factory.Created.Single().Disposed.Should().BeFalse();
        pool.Statistics.TotalCreated.Should().Be(1);
        pool.Statistics.TotalDestroyed.Should().Be(0);
    }

    [Fact]
    public async Task Housekeeping_RefillCompletesWhileACallerWaits_HandsTheConnectionToTheCaller()
    {
        var factory = new FakeConnectionFactory();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        factory.Next(_ => gate.Task);
        var options = factory.Options(FakeClock.Create(), maxSize: 1);
        options.MinSize = 1;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await FakeClock.WaitUntilAsync(() => factory.CreateCalls == 1, cancellationToken: Ct);
        var waiting = pool.AcquireAsync(Ct).AsTask();
        pool.Statistics.Waiting.Should().Be(1);

        gate.SetResult();

        await using var lease = await waiting.WaitAsync(FakeClock.HangTimeout, Ct);
        lease.Connection.Id.Should().Be(1);
        pool.Statistics.Busy.Should().Be(1);
        pool.Statistics.Idle.Should().Be(0);
    }

    [Fact]
    public async Task Housekeeping_RefillCreateFailsWhileCallersWait_GivesTheFreedSlotToTheFirstWaiterOnly()
    {
        var factory = new FakeConnectionFactory();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        factory.Next(_ => Task.CompletedTask);
        factory.Next(async _ =>
        {
            await gate.Task;
            throw new IOException("database starting up");
        });
        var options = factory.Options(FakeClock.Create(), maxSize: 2);
        options.MinSize = 2;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await FakeClock.WaitUntilAsync(() => pool.Statistics.Idle == 1 && factory.CreateCalls == 2, cancellationToken: Ct);
        await using var held = await pool.AcquireAsync(Ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var first = pool.AcquireAsync(Ct).AsTask();
        var second = pool.AcquireAsync(cts.Token).AsTask();
        pool.Statistics.Waiting.Should().Be(2);

        gate.SetResult();

        await using var lease = await first.WaitAsync(FakeClock.HangTimeout, Ct);
        var statistics = pool.Statistics;
        var secondServed = second.IsCompleted;
        await cts.CancelAsync(); // before any assertion, so that a failure cannot leave a lease out and hang disposal
        if (second.IsCompletedSuccessfully)
        {
            await (await second).DisposeAsync();
        }

        lease.Connection.Id.Should().Be(3);
        secondServed.Should().BeFalse("MaxSize 2 is reached again");
        statistics.Waiting.Should().Be(1);
        statistics.Creating.Should().Be(0);
        statistics.Busy.Should().Be(2);
        factory.PeakLive.Should().Be(2);
        await second.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>();
    }

    [Fact]
    public async Task DisposeAsync_BackgroundCreateCancelled_CompletesWithoutWaitingForTheDrainTimeout()
    {
        var factory = new FakeConnectionFactory();
        factory.Next(ct => Task.Delay(Timeout.InfiniteTimeSpan, ct));
        var options = factory.Options(FakeClock.Create());
        options.MinSize = 1;
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        await FakeClock.WaitUntilAsync(() => factory.CreateCalls == 1, cancellationToken: Ct);

        await pool.DisposeAsync().AsTask().WaitAsync(FakeClock.HangTimeout, Ct);

        pool.Statistics.Creating.Should().Be(0);
    }

    [Fact]
    public async Task DisposeAsync_BackgroundCreateCompletesAfterDisposalBegan_DestroysTheConnectionAndCompletes()
    {
        var factory = new FakeConnectionFactory();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        factory.Next(_ => gate.Task); // ignores the shutdown token
        var options = factory.Options(FakeClock.Create());
        options.MinSize = 1;
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        await FakeClock.WaitUntilAsync(() => factory.CreateCalls == 1, cancellationToken: Ct);

        var disposing = pool.DisposeAsync().AsTask();
        gate.SetResult();
        await disposing.WaitAsync(FakeClock.HangTimeout, Ct);

        factory.Created.Single().DisposeCount.Should().Be(1);
        pool.Statistics.TotalCreated.Should().Be(1);
        pool.Statistics.TotalDestroyed.Should().Be(1);
        pool.Statistics.Creating.Should().Be(0);
    }

    [Fact]
    public async Task Housekeeping_ConnectionRetiredDuringARefill_IsReplacedWhenTheRefillEnds()
    {
        var factory = new FakeConnectionFactory();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        factory.Next(_ => Task.CompletedTask);
        factory.Next(_ => gate.Task);
        var options = factory.Options(FakeClock.Create());
        options.MinSize = 2;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await FakeClock.WaitUntilAsync(() => pool.Statistics.Idle == 1 && factory.CreateCalls == 2, cancellationToken: Ct);
        var lease = await pool.AcquireAsync(Ct);
        lease.Invalidate();
        await lease.DisposeAsync();

        gate.SetResult();

        await FakeClock.WaitUntilAsync(() => pool.Statistics.Idle == 2 && pool.Statistics.Creating == 0, cancellationToken: Ct);
        factory.CreateCalls.Should().Be(3);
    }

    /// <summary>A connection that only implements <see cref="IDisposable"/>.</summary>
    public sealed class SyncConnection : IDisposable
    {
        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }
}
