using AsyncPatterns.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace AsyncPatterns.Tests.Connections;

public sealed class AsyncConnectionPoolTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AcquireAsync_StormOf100CallersWithMaxSize5_NeverExceedsMaxSize()
    {
        var factory = new FakeConnectionFactory();
        var options = factory.Options(maxSize: 5);
        options.AcquireTimeout = Timeout.InfiniteTimeSpan;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        var peakTotal = 0;

        async Task CallerAsync()
        {
            await Task.Yield();
            await using var lease = await pool.AcquireAsync(Ct);
            var stats = pool.Statistics;
            var total = stats.Idle + stats.Busy + stats.Creating;
            InterlockedMax(ref peakTotal, total);
            await Task.Yield();
            _ = lease.Connection.Id;
        }

        await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => Task.Run(CallerAsync, Ct))).WaitAsync(FakeClock.HangTimeout, Ct);

        peakTotal.Should().BeLessThanOrEqualTo(5);
        factory.PeakLive.Should().BeLessThanOrEqualTo(5);
        factory.CreateCalls.Should().BeLessThanOrEqualTo(5);
        pool.Statistics.Busy.Should().Be(0);
        pool.Statistics.Waiting.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_WaitersQueued_AreServedInArrivalOrder()
    {
        var factory = new FakeConnectionFactory();
        await using var pool = new AsyncConnectionPool<FakeConnection>(factory.Options(FakeClock.Create(), maxSize: 1));
        var first = await pool.AcquireAsync(Ct);
        var waiters = Enumerable.Range(0, 3).Select(_ => pool.AcquireAsync(Ct).AsTask()).ToArray();
        waiters.Count(w => w.IsCompleted).Should().Be(0);

        for (var i = 0; i < waiters.Length; i++)
        {
            await (i == 0 ? first : await waiters[i - 1]).DisposeAsync();
            var lease = await waiters[i].WaitAsync(FakeClock.HangTimeout, Ct);
            lease.Connection.Id.Should().Be(1);
            waiters.Skip(i + 1).Count(w => w.IsCompleted).Should().Be(0, "waiter {0} was served and the later ones must still wait", i);
        }

        await (await waiters[^1]).DisposeAsync();
        factory.CreateCalls.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_NewCallerWhileOthersWait_DoesNotBargeAhead()
    {
        var factory = new FakeConnectionFactory();
        await using var pool = new AsyncConnectionPool<FakeConnection>(factory.Options(FakeClock.Create(), maxSize: 1));
        var held = await pool.AcquireAsync(Ct);
        var waiter = pool.AcquireAsync(Ct).AsTask();

        await held.DisposeAsync();
        var latecomer = pool.AcquireAsync(Ct).AsTask();

        var served = await waiter.WaitAsync(FakeClock.HangTimeout, Ct);
        latecomer.IsCompleted.Should().BeFalse("the returned connection belongs to the caller that was already waiting");
        pool.Statistics.Waiting.Should().Be(1);
        await served.DisposeAsync();
        await using var late = await latecomer.WaitAsync(FakeClock.HangTimeout, Ct);
        late.Connection.Id.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_NoConnectionWithinAcquireTimeout_ThrowsConnectionPoolTimeoutExceptionNamingPoolSizeAndTimeout()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time, maxSize: 2);
        options.Name = "orders-db";
        options.AcquireTimeout = TimeSpan.FromSeconds(5);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var a = await pool.AcquireAsync(Ct);
        await using var b = await pool.AcquireAsync(Ct);

        var waiting = pool.AcquireAsync(Ct).AsTask();
        await time.AdvanceAsync(TimeSpan.FromSeconds(4.9));
        waiting.IsCompleted.Should().BeFalse();
        await time.AdvanceAsync(TimeSpan.FromSeconds(0.1));

        var ex = (await waiting.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ConnectionPoolTimeoutException>()).Which;
        ex.Should().BeAssignableTo<TimeoutException>();
        ex.Message.Should().Contain("orders-db").And.Contain("MaxSize 2").And.Contain("00:00:05");
        ex.PoolName.Should().Be("orders-db");
        ex.MaxSize.Should().Be(2);
        ex.Timeout.Should().Be(TimeSpan.FromSeconds(5));
        pool.Statistics.Timeouts.Should().Be(1);
        pool.Statistics.Waiting.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_CallerCancelsWhileWaiting_ThrowsWithCallerTokenAndConsumesNothing()
    {
        var factory = new FakeConnectionFactory();
        await using var pool = new AsyncConnectionPool<FakeConnection>(factory.Options(FakeClock.Create(), maxSize: 1));
        var held = await pool.AcquireAsync(Ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var cancelled = pool.AcquireAsync(cts.Token).AsTask();
        var next = pool.AcquireAsync(Ct).AsTask();

        await cts.CancelAsync();

        var ex = (await cancelled.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>()).Which;
        ex.CancellationToken.Should().Be(cts.Token);
        pool.Statistics.Waiting.Should().Be(1);
        await held.DisposeAsync();
        await using var lease = await next.WaitAsync(FakeClock.HangTimeout, Ct);
        lease.Connection.Id.Should().Be(1);
        factory.CreateCalls.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_TokenAlreadyCancelled_ThrowsWithoutCreating()
    {
        var factory = new FakeConnectionFactory();
        await using var pool = new AsyncConnectionPool<FakeConnection>(factory.Options(FakeClock.Create()));

        var act = async () => await pool.AcquireAsync(new CancellationToken(canceled: true));

        await act.Should().ThrowAsync<OperationCanceledException>();
        factory.CreateCalls.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_CreateFails_ErrorReachesTheCallerAndItsSlotIsFreed()
    {
        var factory = new FakeConnectionFactory();
        factory.Next(_ => throw new InvalidOperationException("server refused"));
        await using var pool = new AsyncConnectionPool<FakeConnection>(factory.Options(FakeClock.Create(), maxSize: 1));

        var act = async () => await pool.AcquireAsync(Ct);

        await act.Should().ThrowAsync<InvalidOperationException>().WithMessage("server refused");
        pool.Statistics.Creating.Should().Be(0);
        await using var lease = await pool.AcquireAsync(Ct);
        lease.Connection.Id.Should().Be(2);
    }

    [Fact]
    public async Task AcquireAsync_CreateFailsWhileAnotherWaits_NextWaiterGetsAFreshAttempt()
    {
        var factory = new FakeConnectionFactory();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        factory.Next(async _ =>
        {
            await gate.Task;
            throw new InvalidOperationException("first attempt failed");
        });
        await using var pool = new AsyncConnectionPool<FakeConnection>(factory.Options(FakeClock.Create(), maxSize: 1));

        var first = pool.AcquireAsync(Ct).AsTask();
        var second = pool.AcquireAsync(Ct).AsTask();
        pool.Statistics.Waiting.Should().Be(1);
        gate.SetResult();

        await first.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<InvalidOperationException>().WithMessage("first attempt failed");
        await using var lease = await second.WaitAsync(FakeClock.HangTimeout, Ct);
        lease.Connection.Id.Should().Be(2);
        factory.CreateCalls.Should().Be(2);
    }

    [Fact]
    public async Task AcquireAsync_ConnectionIdleLongerThanValidateAfterIdle_IsValidatedBeforeHandOut()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var validated = new List<int>();
        var options = factory.Options(time);
        options.ValidateAfterIdle = TimeSpan.FromSeconds(1);
        options.ValidateAsync = (c, _) =>
        {
            validated.Add(c.Id);
            return ValueTask.FromResult(true);
        };
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();

        await time.AdvanceAsync(TimeSpan.FromMilliseconds(500));
        await (await pool.AcquireAsync(Ct)).DisposeAsync();
        validated.Should().BeEmpty("a connection used half a second ago is trusted");

        await time.AdvanceAsync(TimeSpan.FromSeconds(1));
        await using var lease = await pool.AcquireAsync(Ct);
        validated.Should().Equal(1);
        lease.Connection.Id.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_IdleConnectionFailsValidation_IsDestroyedAndCallerGetsAGoodOneInTime()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.AcquireTimeout = TimeSpan.FromSeconds(5);
        options.ValidateAfterIdle = TimeSpan.FromSeconds(1);
        options.ValidateAsync = (c, _) => c.Id == 2 ? ValueTask.FromResult(false) : throw new IOException("socket closed");
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        var a = await pool.AcquireAsync(Ct);
        var b = await pool.AcquireAsync(Ct);
        await a.DisposeAsync();
        await b.DisposeAsync();
        await time.AdvanceAsync(TimeSpan.FromSeconds(2));

        await using var lease = await pool.AcquireAsync(Ct).AsTask().WaitAsync(FakeClock.HangTimeout, Ct);

        lease.Connection.Id.Should().Be(3, "connection 2 returned false, connection 1 threw, so a new one was created");
        var created = factory.Created.ToArray();
        await FakeClock.WaitUntilAsync(() => created[0].Disposed && created[1].Disposed, cancellationToken: Ct);
        pool.Statistics.TotalDestroyed.Should().Be(2);
        pool.Statistics.Busy.Should().Be(1);
        pool.Statistics.Idle.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_ConnectionOlderThanMaxLifetime_IsNeverHandedOut()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.MaxLifetime = TimeSpan.FromMinutes(10);
        options.IdleTimeout = Timeout.InfiniteTimeSpan;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();

        time.Advance(TimeSpan.FromMinutes(10)); // no settling: the acquire must check expiry itself, not rely on housekeeping
        await using var lease = await pool.AcquireAsync(Ct);

        lease.Connection.Id.Should().Be(2);
        await FakeClock.WaitUntilAsync(() => factory.Created.First().Disposed, cancellationToken: Ct);
    }

    [Fact]
    public async Task DisposeAsync_OfLeaseOnExpiredConnection_DestroysItOnlyWhenReturned()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.MaxLifetime = TimeSpan.FromMinutes(10);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        var lease = await pool.AcquireAsync(Ct);

        await time.AdvanceAsync(TimeSpan.FromMinutes(30));
        lease.Connection.Disposed.Should().BeFalse("a leased connection is never destroyed under its user");

        var connection = lease.Connection;
        await lease.DisposeAsync();
        connection.Disposed.Should().BeTrue();
        pool.Statistics.Idle.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_MaxLifetimeJitter_ShortensLifetimeByInjectedRandomFraction()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.MaxLifetime = TimeSpan.FromMinutes(10);
        options.MaxLifetimeJitter = 0.1;
        options.Randomizer = () => 0.5; // 5 % shorter: 9.5 minutes
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();

        time.Advance(TimeSpan.FromMinutes(9.49));
        var lease = await pool.AcquireAsync(Ct);
        lease.Connection.Id.Should().Be(1);
        await lease.DisposeAsync();

        time.Advance(TimeSpan.FromMinutes(0.01));
        await using var later = await pool.AcquireAsync(Ct);
        later.Connection.Id.Should().Be(2);
    }

    [Fact]
    public async Task Housekeeping_IdleConnections_AreEvictedDownToMinSizeOnly()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.MinSize = 2;
        options.IdleTimeout = TimeSpan.FromMinutes(1);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await FakeClock.WaitUntilAsync(() => pool.Statistics.Idle == 2, cancellationToken: Ct);
        var leases = new List<PooledConnection<FakeConnection>>();
        for (var i = 0; i < 4; i++)
        {
            leases.Add(await pool.AcquireAsync(Ct));
        }

        foreach (var lease in leases)
        {
            await lease.DisposeAsync();
        }

        pool.Statistics.Idle.Should().Be(4);
        await time.AdvanceUntilAsync(() => pool.Statistics.TotalDestroyed == 2, TimeSpan.FromSeconds(5));
        await time.AdvanceAsync(TimeSpan.FromMinutes(5));

        pool.Statistics.Idle.Should().Be(2);
        pool.Statistics.TotalDestroyed.Should().Be(2);
        factory.CreateCalls.Should().Be(4);
    }

    [Fact]
    public async Task Housekeeping_AfterAConnectionIsDestroyed_RefillsMinSizeInTheBackground()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.MinSize = 2;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await FakeClock.WaitUntilAsync(() => pool.Statistics.Idle == 2, cancellationToken: Ct);

        var lease = await pool.AcquireAsync(Ct);
        lease.Invalidate();
        await lease.DisposeAsync();

        await FakeClock.WaitUntilAsync(() => pool.Statistics.Idle == 2 && pool.Statistics.Creating == 0, cancellationToken: Ct);
        factory.CreateCalls.Should().Be(3);
        pool.Statistics.TotalDestroyed.Should().Be(1);
    }

    [Fact]
    public async Task Housekeeping_BackgroundCreateFails_ErrorIsLoggedAndRetriedAtTheNextPass()
    {
        var time = FakeClock.Create();
        var logs = new FakeLogCollector();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(logs)));
        var factory = new FakeConnectionFactory();
        factory.Next(_ => throw new IOException("database starting up"));
        var options = factory.Options(time);
        options.MinSize = 1;
        options.LoggerFactory = loggerFactory;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);

        await FakeClock.WaitUntilAsync(() => logs.Count > 0 && pool.Statistics.Creating == 0, cancellationToken: Ct);
        logs.LatestRecord.Level.Should().Be(LogLevel.Error);
        logs.LatestRecord.Exception.Should().BeOfType<IOException>();
        pool.Statistics.Idle.Should().Be(0);

        await time.AdvanceUntilAsync(() => pool.Statistics.Idle == 1, TimeSpan.FromSeconds(5));
        factory.CreateCalls.Should().Be(2);
    }

    [Fact]
    public async Task Housekeeping_LeaseHeldBeyondLeakDetectionThreshold_LogsOneWarningWithWhereItWasAcquired()
    {
        var time = FakeClock.Create();
        var logs = new FakeLogCollector();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(logs)));
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.LeakDetectionThreshold = TimeSpan.FromSeconds(10);
        options.LoggerFactory = loggerFactory;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);

        await using var lease = await pool.AcquireAsync(Ct);
        await time.AdvanceAsync(TimeSpan.FromSeconds(9));
        logs.Count.Should().Be(0);
        await time.AdvanceUntilAsync(() => logs.Count > 0, TimeSpan.FromSeconds(1));
        await time.AdvanceAsync(TimeSpan.FromMinutes(2));

        var warning = logs.GetSnapshot().Should().ContainSingle().Which;
        warning.Level.Should().Be(LogLevel.Warning);
        warning.Message.Should().Contain("test-pool").And.Contain(nameof(Housekeeping_LeaseHeldBeyondLeakDetectionThreshold_LogsOneWarningWithWhereItWasAcquired));
    }

    [Fact]
    public async Task Clear_RetiresIdleConnectionsNowAndLeasedOnesOnReturn()
    {
        var factory = new FakeConnectionFactory();
        await using var pool = new AsyncConnectionPool<FakeConnection>(factory.Options(FakeClock.Create()));
        var busy = await pool.AcquireAsync(Ct);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();
        var idleConnection = factory.Created.Last();

        pool.Clear();

        await FakeClock.WaitUntilAsync(() => idleConnection.Disposed, cancellationToken: Ct);
        busy.Connection.Disposed.Should().BeFalse();
        var busyConnection = busy.Connection;
        await busy.DisposeAsync();
        busyConnection.Disposed.Should().BeTrue();
        await using var fresh = await pool.AcquireAsync(Ct);
        fresh.Connection.Id.Should().Be(3);
        pool.Statistics.TotalDestroyed.Should().Be(2);
    }

    [Fact]
    public async Task AcquireAsync_AfterPoolDisposed_ThrowsObjectDisposedException()
    {
        var factory = new FakeConnectionFactory();
        var pool = new AsyncConnectionPool<FakeConnection>(factory.Options(FakeClock.Create()));
        await pool.DisposeAsync();

        var act = async () => await pool.AcquireAsync(Ct);

        await act.Should().ThrowAsync<ObjectDisposedException>();
        factory.CreateCalls.Should().Be(0);
    }

    [Fact]
    public async Task DisposeAsync_WithAWaiter_FailsItWithObjectDisposedExceptionAndWaitsForTheLease()
    {
        var factory = new FakeConnectionFactory();
        var pool = new AsyncConnectionPool<FakeConnection>(factory.Options(FakeClock.Create(), maxSize: 1));
        var held = await pool.AcquireAsync(Ct);
        var waiter = pool.AcquireAsync(Ct).AsTask();

        var disposing = pool.DisposeAsync().AsTask();

        await waiter.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ObjectDisposedException>();
        pool.Statistics.Waiting.Should().Be(0);
        disposing.IsCompleted.Should().BeFalse("a lease is still out");
        var connection = held.Connection;
        await held.DisposeAsync();
        await disposing.WaitAsync(FakeClock.HangTimeout, Ct);
        connection.DisposeCount.Should().Be(1);
    }

    [Fact]
    public async Task DisposeAsync_IdleConnections_AreDestroyed()
    {
        var factory = new FakeConnectionFactory();
        var pool = new AsyncConnectionPool<FakeConnection>(factory.Options(FakeClock.Create()));
        var a = await pool.AcquireAsync(Ct);
        var b = await pool.AcquireAsync(Ct);
        await a.DisposeAsync();
        await b.DisposeAsync();

        await pool.DisposeAsync().AsTask().WaitAsync(FakeClock.HangTimeout, Ct);

        factory.Created.Should().HaveCount(2).And.OnlyContain(c => c.DisposeCount == 1);
        pool.Statistics.Idle.Should().Be(0);
        pool.Statistics.TotalDestroyed.Should().Be(2);
    }

    [Fact]
    public async Task DisposeAsync_LeaseNotReturnedWithinDrainTimeout_DestroysItAndCompletes()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.DrainTimeout = TimeSpan.FromSeconds(10);
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        var lease = await pool.AcquireAsync(Ct);
        var connection = lease.Connection;

        var disposing = pool.DisposeAsync().AsTask();
        await time.AdvanceAsync(TimeSpan.FromSeconds(9));
        disposing.IsCompleted.Should().BeFalse();
        connection.Disposed.Should().BeFalse();
        await time.AdvanceUntilCompletedAsync(disposing, TimeSpan.FromSeconds(1));

        connection.Disposed.Should().BeTrue();
        lease.IsActive.Should().BeFalse();
        lease.Invoking(l => l.Connection).Should().Throw<ObjectDisposedException>();
        await lease.DisposeAsync(); // a no-op, not a second destroy
        connection.DisposeCount.Should().Be(1);
    }

    [Fact]
    public async Task DisposeAsync_ReclaimsTheNextLeaseOfAConnection_AnEarlierReturnedLeaseOfItStaysInactive()
    {
        // A return moves the connection's version on by one and the reclaim at the drain timeout by one more: the
        // earlier lease, returned before, must not match the reclaimed version and come back to life.
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time, maxSize: 1);
        options.DrainTimeout = TimeSpan.FromSeconds(10);
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        var first = await pool.AcquireAsync(Ct);
        await first.DisposeAsync();
        var second = await pool.AcquireAsync(Ct);
        second.Connection.Should().BeSameAs(factory.Created.Single());

        var disposing = pool.DisposeAsync().AsTask();
        await time.AdvanceUntilCompletedAsync(disposing, TimeSpan.FromSeconds(1), maxSteps: 30);

        second.IsActive.Should().BeFalse("the lease was reclaimed");
        first.IsActive.Should().BeFalse("a returned lease never becomes active again");
        first.Invoking(l => l.Connection).Should().Throw<ObjectDisposedException>();
        first.Invoking(l => l.Invalidate()).Should().Throw<ObjectDisposedException>();
        factory.Created.Single().DisposeCount.Should().Be(1);
    }

    [Fact]
    public async Task DisposeAsync_DestroyHookNeverCompletes_StillCompletesAfterTheDrainTimeout()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.DrainTimeout = TimeSpan.FromSeconds(10);
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        options.DestroyAsync = _ => new ValueTask(never.Task);
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();

        var disposing = pool.DisposeAsync().AsTask();
        await time.AdvanceUntilCompletedAsync(disposing, TimeSpan.FromSeconds(1), maxSteps: 30);

        var again = pool.DisposeAsync();
        again.IsCompleted.Should().BeTrue("disposal is idempotent");
    }

    [Fact]
    public async Task AcquireAsync_ResetHookOnReturn_RunsAndAFailingResetDestroysTheConnection()
    {
        var factory = new FakeConnectionFactory();
        var options = factory.Options(FakeClock.Create());
        var resets = 0;
        options.ResetAsync = (_, _) => ++resets == 2 ? throw new InvalidOperationException("rollback failed") : ValueTask.CompletedTask;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);

        await (await pool.AcquireAsync(Ct)).DisposeAsync();
        pool.Statistics.Idle.Should().Be(1);
        var lease = await pool.AcquireAsync(Ct);
        var connection = lease.Connection;
        await lease.DisposeAsync();

        resets.Should().Be(2);
        connection.Disposed.Should().BeTrue();
        pool.Statistics.Idle.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_1000RandomlyCancelledOperations_EveryConnectionIsReturnedOrDestroyed()
    {
        const int Seed = 20261124;
        var random = new Random(Seed);
        var factory = new FakeConnectionFactory();
        var options = factory.Options(maxSize: 8);
        options.AcquireTimeout = Timeout.InfiniteTimeSpan;
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        var plans = Enumerable.Range(0, 1000).Select(_ => (
            CancelAfterYields: random.Next(-1, 6),
            WorkYields: random.Next(0, 4),
            Invalidate: random.Next(10) == 0,
            Fail: random.Next(10) == 0)).ToArray();
        var outcomes = new int[3];

        async Task OperationAsync((int CancelAfterYields, int WorkYields, bool Invalidate, bool Fail) plan)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var canceller = plan.CancelAfterYields < 0 ? Task.CompletedTask : Task.Run(
                async () =>
                {
                    for (var i = 0; i < plan.CancelAfterYields; i++)
                    {
                        await Task.Yield();
                    }

                    await cts.CancelAsync();
                }, Ct);
            try
            {
                await using var lease = await pool.AcquireAsync(cts.Token);
                for (var i = 0; i < plan.WorkYields; i++)
                {
                    await Task.Yield();
                    cts.Token.ThrowIfCancellationRequested();
                }

                if (plan.Invalidate)
                {
                    lease.Invalidate();
                }

                if (plan.Fail)
                {
                    throw new InvalidOperationException("work failed");
                }

                Interlocked.Increment(ref outcomes[0]);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref outcomes[1]);
            }
            catch (InvalidOperationException)
            {
                Interlocked.Increment(ref outcomes[2]);
            }

            await canceller;
        }

        await Task.WhenAll(plans.Select(p => Task.Run(() => OperationAsync(p), Ct))).WaitAsync(FakeClock.HangTimeout, Ct);

        var stats = pool.Statistics;
        var because = $"seed {Seed}: {stats}, completed/cancelled/failed = {string.Join('/', outcomes)}";
        outcomes.Sum().Should().Be(1000, because);
        outcomes[1].Should().BePositive(because);
        stats.Busy.Should().Be(0, because);
        stats.Waiting.Should().Be(0, because);
        stats.Creating.Should().Be(0, because);
        (stats.TotalCreated - stats.TotalDestroyed).Should().Be(stats.Idle, because);
        factory.PeakLive.Should().BeLessThanOrEqualTo(8, because);
        await FakeClock.WaitUntilAsync(() => factory.Created.Count(c => c.Disposed) == stats.TotalDestroyed, cancellationToken: Ct);
        await pool.DisposeAsync();
        factory.Created.Should().OnlyContain(c => c.DisposeCount == 1, because);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
