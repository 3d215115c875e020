using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace AsyncPatterns.Redis.Tests;

/// <summary>Tests of <see cref="RedisRateLimiter"/> against a real Redis; the queue tests run the script on the fake clock (the time is passed in).</summary>
public sealed partial class RedisRateLimiterTests(SharedRedis redis)
{
    /// <summary>The operation timeout of the tests that are not about faults: a busy machine's slow reply is no fault there.</summary>
    private static readonly TimeSpan Slow = TimeSpan.FromSeconds(15);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string NewKey() => "asyncpatterns-test:" + Guid.NewGuid().ToString("N");

    private static RedisRateLimiterOptions FakeClockOptions(IConnectionMultiplexer multiplexer, FakeTimeProvider time) => new()
    {
        ConnectionMultiplexer = multiplexer,
        Key = NewKey(),
        TimeProvider = time,
        UseClientClock = true,

        // The operation timeout runs on the fake clock, which the tests advance while calls are in flight.
        OperationTimeout = TimeSpan.FromMinutes(5),
    };

    /// <summary>Lets the limiter's calls to Redis finish (real time), bounded so a bug fails instead of hanging.</summary>
    private static async Task EventuallyAsync(Func<bool> condition, string what, int seconds = 15)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(seconds));
        while (!condition())
        {
            if (timeout.IsCancellationRequested)
            {
                throw new TimeoutException($"Still waiting for: {what}");
            }

            await Task.Delay(2, CancellationToken.None);
        }
    }

    /// <summary>Advances the fake clock in steps, letting the limiter's real Redis calls run between them, until the condition holds.</summary>
    private static async Task AdvanceUntilAsync(FakeTimeProvider time, Func<bool> condition, TimeSpan step)
    {
        for (var i = 0; i < 5000 && !condition(); i++)
        {
            time.Advance(step);
            await FakeClock.SettleAsync();
            await Task.Delay(1, CancellationToken.None);
        }

        condition().Should().BeTrue("the condition holds before the step bound");
    }

    [Theory]
    [InlineData(3.0, 4)]
    [InlineData(10.0, 1)]
    [InlineData(0.5, 2)]
    public async Task AttemptAcquire_SameSequenceOnTheFakeClock_MatchesRequestRateLimiter(double permitsPerSecond, int burst)
    {
        var time = FakeClock.Create();
        using var multiplexer = await redis.ConnectAsync();
        var options = FakeClockOptions(multiplexer, time);
        options.PermitsPerSecond = permitsPerSecond;
        options.Burst = burst;
        using var shared = new RedisRateLimiter(options);
        using var local = new RequestRateLimiter(new RequestRateLimiterOptions { PermitsPerSecond = permitsPerSecond, Burst = burst, TimeProvider = time });
        var random = new Random(21);
        var granted = 0;
        var rejected = 0;
        for (var step = 0; step < 300; step++)
        {
            time.Advance(TimeSpan.FromMilliseconds(random.Next(0, (int)(1500 / permitsPerSecond))));
            var permits = random.Next(0, burst + 1);
            using var ours = shared.AttemptAcquire(permits);
            using var theirs = local.AttemptAcquire(permits);
            ours.IsAcquired.Should().Be(theirs.IsAcquired, "step {0} asks for {1} permit(s) at {2} ({3})", step, permits, time.GetUtcNow(), string.Join(", ", ours.MetadataNames));
            var ourRetry = ours.TryGetMetadata(MetadataName.RetryAfter, out var ourValue);
            var theirRetry = theirs.TryGetMetadata(MetadataName.RetryAfter, out var theirValue);
            ourRetry.Should().Be(theirRetry, "step {0}", step);
            if (ourRetry)
            {
                ourValue.Should().BeCloseTo(theirValue, TimeSpan.FromMicroseconds(2), "step {0}", step);
            }

            if (ours.IsAcquired)
            {
                granted++;
            }
            else
            {
                rejected++;
            }
        }

        granted.Should().BeGreaterThan(20);
        rejected.Should().BeGreaterThan(20);
    }

    [Fact]
    public async Task AcquireAsync_WithinTheBurst_CostsOneRoundTripPerGrant()
    {
        using var multiplexer = await redis.ConnectAsync();
        var options = FakeClockOptions(multiplexer, FakeClock.Create());
        options.PermitsPerSecond = 10;
        options.Burst = 50;
        options.MaxConcurrency = 100;
        await using var limiter = new RedisRateLimiter(options);
        var leases = new List<RateLimitLease>();
        for (var i = 0; i < 50; i++)
        {
            var lease = await limiter.AcquireAsync(Ct);
            lease.IsAcquired.Should().BeTrue();
            leases.Add(lease);
        }

        limiter.RoundTrips.Should().Be(50);
        limiter.GetStatistics()!.TotalSuccessfulLeases.Should().Be(50);
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(0);
        leases.ForEach(lease => lease.Dispose());
    }

    [Fact]
    public async Task AcquireAsync_RateShort_SleepsUntilTheScriptSaysThePermitIsDue()
    {
        var time = FakeClock.Create();
        using var multiplexer = await redis.ConnectAsync();
        var options = FakeClockOptions(multiplexer, time);
        options.PermitsPerSecond = 10;
        await using var limiter = new RedisRateLimiter(options);
        var start = time.GetUtcNow();
        (await limiter.AcquireAsync(Ct)).IsAcquired.Should().BeTrue();

        var second = limiter.AcquireAsync(Ct).AsTask();
        await EventuallyAsync(() => limiter.GetStatistics()!.CurrentQueuedCount == 1, "the second acquire is queued");
        await AdvanceUntilAsync(time, () => second.IsCompleted, TimeSpan.FromMilliseconds(5));
        var grantedAt = time.GetUtcNow();
        (await second).IsAcquired.Should().BeTrue();
        (grantedAt - start).Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(100));
        limiter.RoundTrips.Should().Be(3, "one grant, one denied attempt that tells the wait, one grant: no polling");
    }

    [Fact]
    public async Task AcquireAsync_CancelledWhileQueued_ThrowsWithTheCallersToken()
    {
        var time = FakeClock.Create();
        using var multiplexer = await redis.ConnectAsync();
        var options = FakeClockOptions(multiplexer, time);
        options.PermitsPerSecond = 1;
        await using var limiter = new RedisRateLimiter(options);
        (await limiter.AcquireAsync(Ct)).IsAcquired.Should().BeTrue();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var waiting = limiter.AcquireAsync(cts.Token).AsTask();
        await EventuallyAsync(() => limiter.GetStatistics()!.CurrentQueuedCount == 1, "the acquire is queued");

        await cts.CancelAsync();

        var thrown = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        thrown.CancellationToken.Should().Be(cts.Token);
        limiter.GetStatistics()!.CurrentQueuedCount.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_QueueFull_RejectsWithRetryAfter()
    {
        var time = FakeClock.Create();
        using var multiplexer = await redis.ConnectAsync();
        var options = FakeClockOptions(multiplexer, time);
        options.PermitsPerSecond = 10;
        options.QueueLimit = 1;
        await using var limiter = new RedisRateLimiter(options);
        (await limiter.AcquireAsync(Ct)).IsAcquired.Should().BeTrue();
        var queued = limiter.AcquireAsync(Ct).AsTask();
        await EventuallyAsync(() => limiter.GetStatistics()!.CurrentQueuedCount == 1, "the second acquire is queued");

        using var rejected = await limiter.AcquireAsync(Ct);

        rejected.IsAcquired.Should().BeFalse();
        rejected.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter).Should().BeTrue();
        retryAfter.Should().BeGreaterThan(TimeSpan.Zero);
        queued.IsCompleted.Should().BeFalse();
        limiter.GetStatistics()!.TotalFailedLeases.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_QueueLimitZero_RejectsAtOnceWithTheWaitOfTheScript()
    {
        var time = FakeClock.Create();
        using var multiplexer = await redis.ConnectAsync();
        var options = FakeClockOptions(multiplexer, time);
        options.PermitsPerSecond = 4;
        options.QueueLimit = 0;
        await using var limiter = new RedisRateLimiter(options);
        (await limiter.AcquireAsync(Ct)).IsAcquired.Should().BeTrue();
        time.Advance(TimeSpan.FromMilliseconds(100));

        using var rejected = await limiter.AcquireAsync(Ct);

        rejected.IsAcquired.Should().BeFalse();
        rejected.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter).Should().BeTrue();
        retryAfter.Should().BeCloseTo(TimeSpan.FromMilliseconds(150), TimeSpan.FromMicroseconds(2));
    }

    [Fact]
    public async Task AcquireAsync_ConcurrencyReleasedByAnotherProcess_WakesTheWaiterWithoutWaitingForTheLeaseTime()
    {
        using var first = await redis.ConnectAsync();
        using var second = await redis.ConnectAsync();
        var key = NewKey();
        await using var a = new RedisRateLimiter(new() { OperationTimeout = Slow, ConnectionMultiplexer = first, Key = key, MaxConcurrency = 1, LeaseTime = TimeSpan.FromMinutes(5) });
        await using var b = new RedisRateLimiter(new() { OperationTimeout = Slow, ConnectionMultiplexer = second, Key = key, MaxConcurrency = 1, LeaseTime = TimeSpan.FromMinutes(5) });
        var held = await a.AcquireAsync(Ct);
        held.IsAcquired.Should().BeTrue();
        await EventuallyAsync(() => b.RoundTrips >= 0, "b subscribed");
        var waiting = b.AcquireAsync(Ct).AsTask();
        await EventuallyAsync(() => b.GetStatistics()!.CurrentQueuedCount == 1, "b's acquire is queued");
        waiting.IsCompleted.Should().BeFalse();

        held.Dispose();

        // Without the release notification the waiter would sleep until the lease expires, five minutes on.
        using var lease = await waiting.WaitAsync(TimeSpan.FromSeconds(20), Ct);
        lease.IsAcquired.Should().BeTrue();
    }

    [Fact]
    public async Task AcquireAsync_ManyWaitersOnOnePermitInTwoProcesses_EveryReleaseWakesAWaiterNoneSleepsToTheLeaseExpiry()
    {
        using var first = await redis.ConnectAsync();
        using var second = await redis.ConnectAsync();
        var key = NewKey();
        RedisRateLimiter Create(IConnectionMultiplexer multiplexer) => new(new()
        {
            OperationTimeout = Slow,
            ConnectionMultiplexer = multiplexer,
            Key = key,
            MaxConcurrency = 1,
            QueueLimit = 100,
            LeaseTime = TimeSpan.FromMinutes(5),
        });
        await using var a = Create(first);
        await using var b = Create(second);
        var holders = 0;
        var most = 0;

        // A wake-up lost between a release and a waiter going to sleep leaves that waiter asleep until the lease
        // expires, five minutes on: far past the bound below.
        async Task LoopAsync(RateLimiter limiter)
        {
            for (var i = 0; i < 50; i++)
            {
                using var lease = await limiter.AcquireAsync(1, Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(30), Ct);
                lease.IsAcquired.Should().BeTrue();
                var now = Interlocked.Increment(ref holders);
                InterlockedMax(ref most, now);
                await Task.Yield();
                Interlocked.Decrement(ref holders);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => LoopAsync(i % 2 == 0 ? a : b), Ct)));

        most.Should().Be(1, "one permit across both processes");
        (a.GetStatistics()!.TotalSuccessfulLeases + b.GetStatistics()!.TotalSuccessfulLeases).Should().Be(400);
    }

    [Fact]
    public async Task Release_NoAcquireDeniedForConcurrency_PublishesNothing()
    {
        using var multiplexer = await redis.ConnectAsync();
        using var listener = await redis.ConnectAsync();
        var key = NewKey();
        var messages = 0;
        var marked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var channel = RedisChannel.Literal($"{{{key}}}:released");
        await listener.GetSubscriber().SubscribeAsync(channel, (_, value) =>
        {
            if (value == "marker")
            {
                marked.TrySetResult();
            }
            else
            {
                Interlocked.Increment(ref messages);
            }
        });
        await using var limiter = new RedisRateLimiter(new() { OperationTimeout = Slow, ConnectionMultiplexer = multiplexer, Key = key, MaxConcurrency = 2 });
        for (var i = 0; i < 20; i++)
        {
            var lease = await limiter.AcquireAsync(Ct);
            lease.IsAcquired.Should().BeTrue();
            lease.Dispose();
        }

        // Every release has run once both permits are free; a marker published after them arrives after anything they published.
        var database = listener.GetDatabase();
        await EventuallyAsync(() => database.SortedSetLength($"{{{key}}}:leases") == 0, "the releases reached Redis");
        await multiplexer.GetSubscriber().PublishAsync(channel, "marker");
        await marked.Task.WaitAsync(TimeSpan.FromSeconds(20), Ct);

        Volatile.Read(ref messages).Should().Be(0, "no process waits for a release: a release wakes no one (no pub/sub message per release)");
    }

    [Fact]
    public async Task Release_ManyLeasesAtOnce_SharesScriptCallsInsteadOfOneEach()
    {
        using var multiplexer = await redis.ConnectAsync();
        var key = NewKey();
        await using var limiter = new RedisRateLimiter(new() { OperationTimeout = Slow, ConnectionMultiplexer = multiplexer, Key = key, MaxConcurrency = 1000 });
        var leases = new List<RateLimitLease>();
        for (var i = 0; i < 256; i++)
        {
            var lease = await limiter.AcquireAsync(i % 3 + 1, Ct);
            lease.IsAcquired.Should().BeTrue();
            leases.Add(lease);
        }

        var before = limiter.RoundTrips;
        leases.ForEach(lease => lease.Dispose());

        var database = multiplexer.GetDatabase();
        await EventuallyAsync(() => database.SortedSetLength($"{{{key}}}:leases") == 0, "the releases reached Redis");
        (limiter.RoundTrips - before).Should().BeLessThan(32, "releases that come while one is in flight go together in the next call");
        ((long?)database.StringGet($"{{{key}}}:extra")).Should().BeNull("every permit is given back, and the count of permits beyond one per lease goes with the last such lease");
        using var all = await limiter.AcquireAsync(1000, Ct);
        all.IsAcquired.Should().BeTrue("all 1000 permits are free again");
    }

    [Fact]
    public async Task AttemptAcquire_RightAfterReleasesQueuedBehindOneInFlight_SeesTheirPermitsFree()
    {
        using var multiplexer = await redis.ConnectAsync();
        await using var limiter = new RedisRateLimiter(new() { OperationTimeout = Slow, ConnectionMultiplexer = multiplexer, Key = NewKey(), MaxConcurrency = 3 });
        for (var round = 0; round < 20; round++)
        {
            var a = await limiter.AcquireAsync(1, Ct);
            var b = await limiter.AcquireAsync(2, Ct);
            a.IsAcquired.Should().BeTrue();
            b.IsAcquired.Should().BeTrue();

            // a's release goes out at once; b's waits behind it, and must reach Redis before the acquire that follows.
            a.Dispose();
            b.Dispose();
            using var all = limiter.AttemptAcquire(3);
            all.IsAcquired.Should().BeTrue("round {0}: both leases were given back before this acquire was asked", round);
        }
    }

    [Fact]
    public async Task Release_AfterAnotherProcessWasDenied_PublishesTheRelease()
    {
        using var multiplexer = await redis.ConnectAsync();
        using var listener = await redis.ConnectAsync();
        var key = NewKey();
        var messages = 0;
        await listener.GetSubscriber().SubscribeAsync(RedisChannel.Literal($"{{{key}}}:released"), (_, _) => Interlocked.Increment(ref messages));
        await using var limiter = new RedisRateLimiter(new() { OperationTimeout = Slow, ConnectionMultiplexer = multiplexer, Key = key, MaxConcurrency = 1 });
        await using var other = new RedisRateLimiter(new() { OperationTimeout = Slow, ConnectionMultiplexer = listener, Key = key, MaxConcurrency = 1 });
        var held = await limiter.AcquireAsync(Ct);
        using (var denied = other.AttemptAcquire())
        {
            denied.IsAcquired.Should().BeFalse();
        }

        held.Dispose();

        await EventuallyAsync(() => Volatile.Read(ref messages) == 1, "the release after a denial is published");
    }

    [Fact]
    public async Task AttemptAcquire_ConcurrencyFull_RejectsWithoutRetryAfterAndReleaseFreesIt()
    {
        using var multiplexer = await redis.ConnectAsync();
        await using var limiter = new RedisRateLimiter(new() { OperationTimeout = Slow, ConnectionMultiplexer = multiplexer, Key = NewKey(), MaxConcurrency = 2 });
        using var one = limiter.AttemptAcquire(2);
        one.IsAcquired.Should().BeTrue();
        limiter.IdleDuration.Should().BeNull();

        using (var rejected = limiter.AttemptAcquire())
        {
            rejected.IsAcquired.Should().BeFalse();
            rejected.MetadataNames.Should().BeEmpty();
        }

        one.Dispose();
        one.Dispose();
        await EventuallyAsync(() => limiter.AttemptAcquire(0).IsAcquired, "the release reached Redis");
        using var again = limiter.AttemptAcquire(2);
        again.IsAcquired.Should().BeTrue();
    }

    [Fact]
    public async Task AttemptAcquire_ExpiredLeaseOfSeveralPermitsReclaimed_FreesExactlyItsPermitsAndItsLateReleaseFreesNothing()
    {
        using var multiplexer = await redis.ConnectAsync();
        var holderTime = FakeClock.Create();
        var holderOptions = FakeClockOptions(multiplexer, holderTime);
        holderOptions.MaxConcurrency = 4;
        holderOptions.LeaseTime = TimeSpan.FromSeconds(3);
        await using var holder = new RedisRateLimiter(holderOptions);

        // The other process's clock is past the holder's lease time; the holder's clock stands still, so it never renews.
        var otherTime = FakeClock.Create();
        otherTime.Advance(TimeSpan.FromSeconds(4));
        var otherOptions = FakeClockOptions(multiplexer, otherTime);
        otherOptions.Key = holderOptions.Key;
        otherOptions.MaxConcurrency = 4;
        otherOptions.LeaseTime = TimeSpan.FromSeconds(3);
        await using var other = new RedisRateLimiter(otherOptions);
        var database = multiplexer.GetDatabase();
        RedisKey extraKey = $"{{{holderOptions.Key}}}:extra";

        var expired = holder.AttemptAcquire(3);
        expired.IsAcquired.Should().BeTrue();
        ((long)await database.StringGetAsync(extraKey)).Should().Be(2, "a lease of 3 permits holds 2 beyond its one");

        using var one = other.AttemptAcquire(1);
        one.IsAcquired.Should().BeTrue("3 + 1 fit in 4 without reclaiming anything");
        using var two = other.AttemptAcquire(2);
        two.IsAcquired.Should().BeTrue("denied otherwise, the acquire reclaims the expired lease and its 3 permits");
        ((long)await database.StringGetAsync(extraKey)).Should().Be(1, "only the live lease of 2 permits holds one beyond its one");
        using var three = other.AttemptAcquire(1);
        three.IsAcquired.Should().BeTrue("1 + 2 + 1 = 4 permits held");
        using (var full = other.AttemptAcquire(1))
        {
            full.IsAcquired.Should().BeFalse("4 of 4 permits are held by live leases");
        }

        // The holder gives its reclaimed lease back late: Redis no longer has it, so nothing more is freed.
        expired.Dispose();
        await EventuallyAsync(() => holder.RoundTrips >= 2, "the late release reached Redis");
        await FakeClock.SettleAsync();
        using (var stillFull = other.AttemptAcquire(1))
        {
            stillFull.IsAcquired.Should().BeFalse("a release of a reclaimed lease frees none of the live leases' permits");
        }

        one.Dispose();
        two.Dispose();
        three.Dispose();
        await EventuallyAsync(() => database.SortedSetLength($"{{{holderOptions.Key}}}:leases") == 0, "the releases reached Redis");
        (await database.KeyExistsAsync(extraKey)).Should().BeFalse("no lease of several permits is held");
        using var all = other.AttemptAcquire(4);
        all.IsAcquired.Should().BeTrue("all 4 permits are free again");
    }

    [Fact]
    public async Task AcquireAsync_PermitCountOutOfRange_ThrowsNamingIt()
    {
        using var multiplexer = await redis.ConnectAsync();
        await using var limiter = new RedisRateLimiter(new() { OperationTimeout = Slow, ConnectionMultiplexer = multiplexer, Key = NewKey(), PermitsPerSecond = 5, Burst = 3 });

        await FluentActions.Awaiting(() => limiter.AcquireAsync(4, Ct).AsTask())
            .Should().ThrowAsync<ArgumentOutOfRangeException>().WithParameterName("permitCount");
        FluentActions.Invoking(() => limiter.AttemptAcquire(-1))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("permitCount");
    }

    [Fact]
    public async Task Dispose_WithWaiters_FailsThemAndRejectsNewAcquires()
    {
        var time = FakeClock.Create();
        using var multiplexer = await redis.ConnectAsync();
        var options = FakeClockOptions(multiplexer, time);
        options.PermitsPerSecond = 1;
        var limiter = new RedisRateLimiter(options);
        (await limiter.AcquireAsync(Ct)).IsAcquired.Should().BeTrue();
        var waiting = limiter.AcquireAsync(Ct).AsTask();
        await EventuallyAsync(() => limiter.GetStatistics()!.CurrentQueuedCount == 1, "queued");

        await limiter.DisposeAsync();
        await limiter.DisposeAsync();

        await FluentActions.Awaiting(() => waiting).Should().ThrowAsync<ObjectDisposedException>();
        FluentActions.Invoking(() => limiter.AttemptAcquire()).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public async Task Constructor_CopiesTheOptions_LaterChangesDoNotApply()
    {
        using var multiplexer = await redis.ConnectAsync();
        var options = new RedisRateLimiterOptions { OperationTimeout = Slow, ConnectionMultiplexer = multiplexer, Key = NewKey(), PermitsPerSecond = 0.01, Burst = 1 };
        await using var limiter = new RedisRateLimiter(options);
        options.Burst = 100;

        limiter.AttemptAcquire().IsAcquired.Should().BeTrue();
        limiter.AttemptAcquire().IsAcquired.Should().BeFalse();
    }
}
