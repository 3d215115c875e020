using AsyncPatterns.Connections;
using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.Tests.Connections;

/// <summary>
/// The queue of waiting acquires: one reusable waiter per queued acquire, one timer for every acquire timeout, a
/// registration on the caller's token. Attacked with races (cancellation, timeout and disposal against a grant), reuse
/// (a late cancellation of an earlier acquire, a second await) and continuations that block or throw.
/// </summary>
public sealed class ConnectionPoolWaiterTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AcquireAsync_ManyQueuedWaitersWithAcquireTimeout_ShareOneTimer()
    {
        var time = new TimerCountingTimeProvider();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time, maxSize: 1);
        options.AcquireTimeout = TimeSpan.FromSeconds(5);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var clocked = new ClockedDisposal(pool, time);
        var lease = await pool.AcquireAsync(Ct);
        var timersBefore = time.TimersCreated;

        var waiters = Enumerable.Range(0, 100).Select(_ => pool.AcquireAsync(Ct).AsTask()).ToArray();

        time.TimersCreated.Should().Be(timersBefore, "the acquire timeouts of queued callers share the pool's one wait timer");
        waiters.Should().OnlyContain(w => !w.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(5));
        foreach (var waiter in waiters)
        {
            await FluentActions.Awaiting(() => waiter.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ConnectionPoolTimeoutException>();
        }

        pool.Statistics.Timeouts.Should().Be(100);
        await lease.DisposeAsync();
    }

    [Fact]
    public async Task AcquireAsync_WaitersQueuedAtDifferentTimes_EachTimesOutAtItsOwnDeadline()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time, maxSize: 1);
        options.AcquireTimeout = TimeSpan.FromSeconds(5);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var clocked = new ClockedDisposal(pool, time);
        var lease = await pool.AcquireAsync(Ct);

        var first = pool.AcquireAsync(Ct).AsTask();
        time.Advance(TimeSpan.FromSeconds(2));
        using var cancelled = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var second = pool.AcquireAsync(cancelled.Token).AsTask();
        time.Advance(TimeSpan.FromSeconds(1));
        var third = pool.AcquireAsync(Ct).AsTask();
        await cancelled.CancelAsync(); // the waiter behind the head leaves; the others keep their deadlines
        await FluentActions.Awaiting(() => second.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>();

        await time.AdvanceAsync(TimeSpan.FromSeconds(2) - TimeSpan.FromMilliseconds(1));
        first.IsCompleted.Should().BeFalse("4.999 s after it was queued");
        await time.AdvanceAsync(TimeSpan.FromMilliseconds(1));
        await FluentActions.Awaiting(() => first.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ConnectionPoolTimeoutException>();
        third.IsCompleted.Should().BeFalse("it was queued 3 s after the first");

        await time.AdvanceAsync(TimeSpan.FromSeconds(3) - TimeSpan.FromMilliseconds(1));
        third.IsCompleted.Should().BeFalse("4.999 s after it was queued");
        await time.AdvanceAsync(TimeSpan.FromMilliseconds(1));
        await FluentActions.Awaiting(() => third.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ConnectionPoolTimeoutException>();

        pool.Statistics.Waiting.Should().Be(0);
        await lease.DisposeAsync();
        await using var next = await pool.AcquireAsync(Ct);
        next.Connection.Id.Should().Be(1, "timeouts consumed nothing");
    }

    [Fact]
    public async Task AcquireAsync_HeadWaiterGrantedBeforeItsDeadline_NextWaiterStillTimesOutOnTime()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time, maxSize: 1);
        options.AcquireTimeout = TimeSpan.FromSeconds(5);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var clocked = new ClockedDisposal(pool, time);
        var lease = await pool.AcquireAsync(Ct);
        var first = pool.AcquireAsync(Ct).AsTask();
        time.Advance(TimeSpan.FromSeconds(1));
        var second = pool.AcquireAsync(Ct).AsTask();

        await lease.DisposeAsync();
        var granted = await first.WaitAsync(FakeClock.HangTimeout, Ct);
        await time.AdvanceAsync(TimeSpan.FromSeconds(4)); // the timer fires for the first waiter's deadline, which has left
        second.IsCompleted.Should().BeFalse("its own deadline is 1 s later");
        await time.AdvanceAsync(TimeSpan.FromSeconds(1));

        await FluentActions.Awaiting(() => second.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ConnectionPoolTimeoutException>();
        await granted.DisposeAsync();
    }

    [Fact]
    public async Task AcquireAsync_MoreConcurrentWaitersThanTheFreeListKeeps_NoWaiterServesTwoAcquiresAndNothingIsLost()
    {
        // 300 tasks (more than the 256 waiters the free list keeps) cycle through 4 connections, some with a token
        // that is cancelled at random: waiters are pushed back concurrently from many threads while the lock's holder
        // pops them. A waiter reused while its earlier acquire still held it would lease one connection twice.
        var factory = new FakeConnectionFactory();
        var options = factory.Options(maxSize: 4);
        options.AcquireTimeout = FakeClock.HangTimeout;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        var inUse = new int[5];
        int doubleLeases = 0, granted = 0, cancelled = 0;

        async Task WorkerAsync(int worker)
        {
            for (var i = 0; i < 100; i++)
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
                var acquire = pool.AcquireAsync(cts.Token).AsTask();
                var cancel = (worker + i) % 7 == 0 ? Task.Run(cts.CancelAsync, Ct) : Task.CompletedTask;
                PooledConnection<FakeConnection> lease;
                try
                {
                    lease = await acquire;
                }
                catch (OperationCanceledException) when (cts.IsCancellationRequested)
                {
                    Interlocked.Increment(ref cancelled);
                    await cancel;
                    continue;
                }

                await cancel;

                if (Interlocked.Exchange(ref inUse[lease.Connection.Id], 1) != 0)
                {
                    Interlocked.Increment(ref doubleLeases);
                }

                await Task.Yield();
                Volatile.Write(ref inUse[lease.Connection.Id], 0);
                Interlocked.Increment(ref granted);
                await lease.DisposeAsync();
            }
        }

        var workers = Enumerable.Range(0, 300).Select(w => Task.Run(() => WorkerAsync(w), Ct)).ToArray();
        await Task.WhenAll(workers).WaitAsync(FakeClock.HangTimeout, Ct);

        doubleLeases.Should().Be(0, "a connection is leased to one acquire at a time");
        (granted + cancelled).Should().Be(300 * 100);
        factory.CreateCalls.Should().BeInRange(1, 4);
        factory.Created.Should().OnlyContain(c => !c.Disposed, "no connection was lost or replaced");
        var stats = pool.Statistics;
        (stats.Idle, stats.Busy, stats.Waiting, stats.Creating).Should().Be((factory.CreateCalls, 0, 0, 0), "every connection created is back");
    }

    [Fact]
    public async Task AcquireAsync_CancellationRacingTheGrant_NeverLosesTheConnection()
    {
        var factory = new FakeConnectionFactory();
        var options = factory.Options(maxSize: 1);
        options.AcquireTimeout = FakeClock.HangTimeout;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        var lease = await pool.AcquireAsync(Ct);
        int granted = 0, cancelled = 0;

        for (var round = 0; round < 10_000; round++)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var waiter = pool.AcquireAsync(cts.Token).AsTask();
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var cancel = Task.Run(async () =>
            {
                await start.Task;
                await cts.CancelAsync();
            }, Ct);
            var give = Task.Run(async () =>
            {
                await start.Task;
                await lease.DisposeAsync();
            }, Ct);
            start.SetResult();
            await Task.WhenAll(cancel, give).WaitAsync(FakeClock.HangTimeout, Ct);
            try
            {
                lease = await waiter.WaitAsync(FakeClock.HangTimeout, Ct);
                granted++;
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                cancelled++;
                lease = await pool.AcquireAsync(Ct).AsTask().WaitAsync(FakeClock.HangTimeout, Ct);
            }

            var stats = pool.Statistics;
            (stats.Busy, stats.Idle, stats.Waiting, stats.Creating).Should().Be((1, 0, 0, 0), $"round {round}: the one connection is leased, nothing else");
        }

        factory.CreateCalls.Should().Be(1, "the one connection was never lost and never replaced");
        (granted + cancelled).Should().Be(10_000);
        await lease.DisposeAsync();
    }

    [Fact]
    public async Task AcquireAsync_TimeoutRacingTheGrant_NeverLosesTheConnection()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time, maxSize: 1);
        options.AcquireTimeout = TimeSpan.FromSeconds(1);
        options.MaxLifetime = Timeout.InfiniteTimeSpan; // thousands of fake seconds pass; the connection must stay the same
        options.IdleTimeout = Timeout.InfiniteTimeSpan;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var clocked = new ClockedDisposal(pool, time);
        var lease = await pool.AcquireAsync(Ct);
        int granted = 0, timedOut = 0;

        for (var round = 0; round < 3_000; round++)
        {
            var waiter = pool.AcquireAsync(Ct).AsTask();
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var expire = Task.Run(async () =>
            {
                await start.Task;
                time.Advance(TimeSpan.FromSeconds(1)); // fires the wait timer on this thread
            }, Ct);
            var give = Task.Run(async () =>
            {
                await start.Task;
                await lease.DisposeAsync();
            }, Ct);
            start.SetResult();
            await Task.WhenAll(expire, give).WaitAsync(FakeClock.HangTimeout, Ct);
            try
            {
                lease = await waiter.WaitAsync(FakeClock.HangTimeout, Ct);
                granted++;
            }
            catch (ConnectionPoolTimeoutException)
            {
                timedOut++;
                lease = await pool.AcquireAsync(Ct).AsTask().WaitAsync(FakeClock.HangTimeout, Ct);
            }

            var stats = pool.Statistics;
            (stats.Busy, stats.Idle, stats.Waiting, stats.Creating).Should().Be((1, 0, 0, 0), $"round {round}: the one connection is leased, nothing else");
        }

        factory.CreateCalls.Should().Be(1, "the one connection was never lost and never replaced");
        pool.Statistics.Timeouts.Should().Be(timedOut);
        (granted + timedOut).Should().Be(3_000);
        await lease.DisposeAsync();
    }

    [Fact]
    public async Task DisposeAsync_RacingQueuedWaitersAndReturns_EveryWaiterEndsAndEveryConnectionIsDestroyed()
    {
        for (var round = 0; round < 300; round++)
        {
            var factory = new FakeConnectionFactory();
            var options = factory.Options(maxSize: 4);
            options.AcquireTimeout = FakeClock.HangTimeout;
            options.DrainTimeout = FakeClock.HangTimeout;
            var pool = new AsyncConnectionPool<FakeConnection>(options);
            var leases = new List<PooledConnection<FakeConnection>>();
            for (var i = 0; i < 4; i++)
            {
                leases.Add(await pool.AcquireAsync(Ct));
            }

            using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var waiters = Enumerable.Range(0, 16).Select(i => pool.AcquireAsync(i % 4 == 0 ? cts.Token : Ct).AsTask()).ToArray();
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var dispose = Task.Run(async () =>
            {
                await start.Task;
                await pool.DisposeAsync();
            }, Ct);
            var cancel = Task.Run(async () =>
            {
                await start.Task;
                await cts.CancelAsync();
            }, Ct);
            var returns = leases.Select(l => Task.Run(async () =>
            {
                await start.Task;
                await l.DisposeAsync();
            }, Ct)).ToArray();
            start.SetResult();

            foreach (var waiter in waiters)
            {
                try
                {
                    var granted = await waiter.WaitAsync(FakeClock.HangTimeout, Ct);
                    await granted.DisposeAsync();
                }
                catch (ObjectDisposedException)
                {
                }
                catch (OperationCanceledException) when (cts.IsCancellationRequested)
                {
                }
            }

            await Task.WhenAll([dispose, cancel, .. returns]).WaitAsync(FakeClock.HangTimeout, Ct);
            var stats = pool.Statistics;
            (stats.Busy, stats.Idle, stats.Waiting, stats.Creating, stats.Destroying).Should().Be((0, 0, 0, 0, 0), $"round {round}");
            factory.Created.Should().OnlyContain(c => c.DisposeCount == 1, $"round {round}: every connection destroyed exactly once");
        }
    }

    [Fact]
    public async Task AcquireAsync_TokenOfAnEarlierGrantedAcquireCancelledLater_DoesNotTouchTheNextAcquire()
    {
        var factory = new FakeConnectionFactory();
        var options = factory.Options(maxSize: 1);
        options.AcquireTimeout = Timeout.InfiniteTimeSpan;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        var lease = await pool.AcquireAsync(Ct);
        using var earlier = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var first = pool.AcquireAsync(earlier.Token).AsTask();
        await lease.DisposeAsync();
        lease = await first.WaitAsync(FakeClock.HangTimeout, Ct);

        var second = pool.AcquireAsync(Ct).AsTask(); // queued in the waiter the first acquire used
        await earlier.CancelAsync();
        await FakeClock.SettleAsync();

        second.IsCompleted.Should().BeFalse("a late cancellation of an earlier acquire cannot reach a reused waiter");
        pool.Statistics.Waiting.Should().Be(1);
        await lease.DisposeAsync();
        await using var granted = await second.WaitAsync(FakeClock.HangTimeout, Ct);
        granted.Connection.Id.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_QueuedAcquireAwaitedTwice_SecondAwaitThrowsInvalidOperationException()
    {
        var factory = new FakeConnectionFactory();
        var options = factory.Options(maxSize: 1);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        var lease = await pool.AcquireAsync(Ct);
        var pending = pool.AcquireAsync(Ct);
        await lease.DisposeAsync();

        var granted = await pending;

        // As for any ValueTask: awaiting it again is not supported; the pool reuses what backs it.
        await FluentActions.Awaiting(async () => await pending).Should().ThrowAsync<InvalidOperationException>();
        granted.IsActive.Should().BeTrue();
        await granted.DisposeAsync();
        pool.Statistics.Idle.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_GrantedWaitersContinuationBlocks_ReturnerAndOtherWaitersGoOn()
    {
        var factory = new FakeConnectionFactory();
        var options = factory.Options(maxSize: 2);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        var first = await pool.AcquireAsync(Ct);
        var second = await pool.AcquireAsync(Ct);
        using var blocker = new ManualResetEventSlim();
        var blockedResult = new TaskCompletionSource<PooledConnection<FakeConnection>>(TaskCreationOptions.RunContinuationsAsynchronously);
#pragma warning disable CA2012 // the continuation reads the result once, after the ValueTask completed
        var awaiter = pool.AcquireAsync(Ct).GetAwaiter();
#pragma warning restore CA2012
        awaiter.OnCompleted(() =>
        {
            blocker.Wait(Ct); // the caller's continuation blocks its thread
            blockedResult.SetResult(awaiter.GetResult());
        });
        var other = pool.AcquireAsync(Ct).AsTask();

        var returned = first.DisposeAsync();
        returned.IsCompletedSuccessfully.Should().BeTrue("the returner only hands the connection over; the waiter's continuation runs elsewhere");
        await second.DisposeAsync();

        await using (var otherLease = await other.WaitAsync(FakeClock.HangTimeout, Ct))
        {
            otherLease.Connection.Id.Should().Be(2, "the next waiter is served while the first one's continuation is blocked");
        }

        blocker.Set();
        await using var blockedLease = await blockedResult.Task.WaitAsync(FakeClock.HangTimeout, Ct);
        blockedLease.Connection.Id.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_GrantedWaitersContinuationThrows_TheConnectionComesBackAndTheNextWaiterGetsIt()
    {
        var factory = new FakeConnectionFactory();
        var options = factory.Options(maxSize: 1);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        var lease = await pool.AcquireAsync(Ct);

        async Task ThrowingCallerAsync()
        {
            await using var granted = await pool.AcquireAsync(Ct);
            throw new InvalidOperationException("the caller's code fails while it holds the connection");
        }

        var thrower = ThrowingCallerAsync();
        var next = pool.AcquireAsync(Ct).AsTask();
        await lease.DisposeAsync();

        await FluentActions.Awaiting(() => thrower.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<InvalidOperationException>();
        await using var nextLease = await next.WaitAsync(FakeClock.HangTimeout, Ct);
        nextLease.Connection.Id.Should().Be(1);
        factory.CreateCalls.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_GrantedASlotWithAcquireTimeout_CreateHookGetsWhatIsLeftOfTheTimeout()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time, maxSize: 1);
        options.AcquireTimeout = TimeSpan.FromSeconds(5);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var clocked = new ClockedDisposal(pool, time);
        var lease = await pool.AcquireAsync(Ct);
        var waiter = pool.AcquireAsync(Ct).AsTask();
        time.Advance(TimeSpan.FromSeconds(3));
        lease.Invalidate(); // the slot, not the connection, passes to the waiter: it creates in what is left of its 5 s
        factory.Next(token => Task.Delay(Timeout.InfiniteTimeSpan, token));
        await lease.DisposeAsync();
        await FakeClock.SettleAsync();
        waiter.IsCompleted.Should().BeFalse();

        await time.AdvanceAsync(TimeSpan.FromSeconds(2) - TimeSpan.FromMilliseconds(1));
        waiter.IsCompleted.Should().BeFalse("4.999 s after the acquire began");
        await time.AdvanceAsync(TimeSpan.FromMilliseconds(1));

        await FluentActions.Awaiting(() => waiter.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ConnectionPoolTimeoutException>();
        pool.Statistics.Creating.Should().Be(0);
    }

    /// <summary>A fake clock that counts the timers created on it.</summary>
    private sealed class TimerCountingTimeProvider() : FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero))
    {
        private int _timers;

        public int TimersCreated => Volatile.Read(ref _timers);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            Interlocked.Increment(ref _timers);
            return base.CreateTimer(callback, state, dueTime, period);
        }
    }
}
