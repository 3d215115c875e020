using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.Tests.RateLimiting;

public sealed class RequestRateLimiterTests
{
    private readonly FakeTimeProvider _time = FakeClock.Create();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private RequestRateLimiter Create(int maxConcurrency = int.MaxValue, double permitsPerSecond = double.PositiveInfinity, int burst = 1,
        int queueLimit = int.MaxValue) =>
        new(new RequestRateLimiterOptions
        {
            MaxConcurrency = maxConcurrency,
            PermitsPerSecond = permitsPerSecond,
            Burst = burst,
            QueueLimit = queueLimit,
            TimeProvider = _time,
        });

    private static TimeSpan RetryAfter(RateLimitLease lease)
    {
        lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter).Should().BeTrue("the rate is what is short");
        return retryAfter;
    }

    [Fact]
    public async Task AcquireAsync_TenPerSecondBurstOne_AdmitsOneHundredInTenSecondsAtLeast100msApart()
    {
        using var limiter = Create(permitsPerSecond: 10);
        var start = _time.GetTimestamp();
        var waiters = Enumerable.Range(0, 150).Select(_ => limiter.AcquireAsync(Ct).AsTask()).ToArray();
        var grantedAt = new TimeSpan?[waiters.Length];

        // Step the fake clock a millisecond at a time; a timer completes a waiter synchronously inside Advance.
        for (var ms = 0; ; ms++)
        {
            for (var i = 0; i < waiters.Length; i++)
            {
                if (grantedAt[i] is null && waiters[i].IsCompleted)
                {
                    grantedAt[i] = _time.GetElapsedTime(start);
                }
            }

            if (ms == 10_000)
            {
                break;
            }

            _time.Advance(TimeSpan.FromMilliseconds(1));
        }

        var times = grantedAt.Where(t => t is not null).Select(t => t!.Value).Order().ToList();
        times.Count.Should().BeInRange(99, 101, "10 permits a second for 10 s (plus the one at 0 s)");
        times.Zip(times.Skip(1), (a, b) => b - a).Should().OnlyContain(gap => gap >= TimeSpan.FromMilliseconds(100));
        foreach (var waiter in waiters.Where(w => w.IsCompleted))
        {
            (await waiter).Dispose();
        }
    }

    [Fact]
    public async Task AcquireAsync_BurstFive_LetsFiveThroughAtOnceThenOnePer100ms()
    {
        using var limiter = Create(permitsPerSecond: 10, burst: 5);

        var waiters = Enumerable.Range(0, 8).Select(_ => limiter.AcquireAsync(Ct).AsTask()).ToArray();

        waiters.Count(w => w.IsCompleted).Should().Be(5);
        _time.Advance(TimeSpan.FromMilliseconds(99));
        waiters.Count(w => w.IsCompleted).Should().Be(5);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        waiters.Count(w => w.IsCompleted).Should().Be(6);
        _time.Advance(TimeSpan.FromMilliseconds(100));
        waiters.Count(w => w.IsCompleted).Should().Be(7);
        _time.Advance(TimeSpan.FromMilliseconds(100));
        waiters.Count(w => w.IsCompleted).Should().Be(8);
        foreach (var waiter in waiters)
        {
            (await waiter).IsAcquired.Should().BeTrue();
        }
    }

    [Fact]
    public async Task AcquireAsync_FractionalRate_SpacesStartsTwoSecondsApart()
    {
        using var limiter = Create(permitsPerSecond: 0.5);
        (await limiter.AcquireAsync(Ct)).IsAcquired.Should().BeTrue();

        var next = limiter.AcquireAsync(Ct).AsTask();

        _time.Advance(TimeSpan.FromMilliseconds(1999));
        next.IsCompleted.Should().BeFalse();
        _time.Advance(TimeSpan.FromMilliseconds(1));
        next.IsCompleted.Should().BeTrue();
    }

    [Fact]
    public async Task AcquireAsync_FiftyCallersMaxConcurrencyFive_NeverHoldsMoreThanFive()
    {
        using var limiter = Create(maxConcurrency: 5);
        var current = 0;
        var peak = 0;
        var entered = new ConcurrentQueue<int>();
        var gates = Enumerable.Range(0, 50).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();

        async Task WorkerAsync(int id)
        {
            using var lease = await limiter.AcquireAsync(Ct);
            lease.IsAcquired.Should().BeTrue();
            var now = Interlocked.Increment(ref current);
            InterlockedMax(ref peak, now);
            entered.Enqueue(id);
            await gates[id].Task.WaitAsync(FakeClock.HangTimeout, Ct);
            Interlocked.Decrement(ref current);
        }

        var workers = Enumerable.Range(0, 50).Select(i => Task.Run(() => WorkerAsync(i), Ct)).ToArray();
        await FakeClock.WaitUntilAsync(() => entered.Count == 5, cancellationToken: Ct);
        await FakeClock.WaitUntilAsync(() => limiter.GetStatistics()!.CurrentQueuedCount == 45, cancellationToken: Ct);

        // Let the holders go one at a time, in the order they got in; each release admits exactly one waiter.
        for (var released = 0; released < 50; released++)
        {
            await FakeClock.WaitUntilAsync(() => entered.Count > released, cancellationToken: Ct);
            gates[entered.ElementAt(released)].SetResult();
            limiter.GetStatistics()!.CurrentAvailablePermits.Should().BeInRange(0, 5);
        }

        await Task.WhenAll(workers).WaitAsync(FakeClock.HangTimeout, Ct);
        peak.Should().Be(5);
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(5);
        limiter.GetStatistics()!.TotalSuccessfulLeases.Should().Be(50);
    }

    [Fact]
    public async Task AcquireAsync_OldestFirst_ServesWaitersInArrivalOrder()
    {
        using var limiter = Create(maxConcurrency: 1);
        var held = await limiter.AcquireAsync(Ct);
        var waiters = Enumerable.Range(0, 10).Select(_ => limiter.AcquireAsync(Ct).AsTask()).ToArray();

        for (var i = 0; i < waiters.Length; i++)
        {
            waiters.Select(w => w.IsCompleted).Should().Equal(Enumerable.Range(0, 10).Select(j => j < i), "after {0} releases", i);
            held.Dispose();
            held = await waiters[i];
        }

        held.Dispose();
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_WaiterCancelled_ConsumesNothingAndDoesNotBlockThoseBehind()
    {
        using var limiter = Create(maxConcurrency: 1, permitsPerSecond: 10);
        var held = await limiter.AcquireAsync(Ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var cancelled = limiter.AcquireAsync(cts.Token).AsTask();
        var behind = limiter.AcquireAsync(Ct).AsTask();

        await cts.CancelAsync();
        (await cancelled.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>())
            .Which.CancellationToken.Should().Be(cts.Token);

        held.Dispose();
        behind.IsCompleted.Should().BeFalse("the rate permit comes 100 ms after the first");
        _time.Advance(TimeSpan.FromMilliseconds(100));
        behind.IsCompleted.Should().BeTrue("the cancelled waiter took neither the concurrency nor the rate permit");
        (await behind).Dispose();
        limiter.GetStatistics()!.TotalSuccessfulLeases.Should().Be(2);
    }

    [Fact]
    public async Task AcquireAsync_QueueFull_FailsWithRetryAfterToTheMillisecond()
    {
        using var limiter = Create(permitsPerSecond: 10, queueLimit: 1);
        (await limiter.AcquireAsync(Ct)).IsAcquired.Should().BeTrue();
        var queued = limiter.AcquireAsync(Ct).AsTask();
        _time.Advance(TimeSpan.FromMilliseconds(30));

        using var rejected = await limiter.AcquireAsync(Ct);

        rejected.IsAcquired.Should().BeFalse();
        // The queued request gets the token at 100 ms, this one could start at 200 ms: 170 ms from now.
        RetryAfter(rejected).Should().Be(TimeSpan.FromMilliseconds(170));
        queued.IsCompleted.Should().BeFalse();
        limiter.GetStatistics()!.TotalFailedLeases.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_QueueFullOnConcurrencyOnly_FailsWithoutRetryAfter()
    {
        using var limiter = Create(maxConcurrency: 1, queueLimit: 0);
        using var held = await limiter.AcquireAsync(Ct);

        using var rejected = await limiter.AcquireAsync(Ct);

        rejected.IsAcquired.Should().BeFalse();
        rejected.TryGetMetadata(MetadataName.RetryAfter, out _).Should().BeFalse("when a lease comes back is unknown");
    }

    [Fact]
    public async Task AttemptAcquire_RateHasTokensButConcurrencyIsFull_FailsWithoutRetryAfter()
    {
        using var limiter = Create(maxConcurrency: 1, permitsPerSecond: 10, burst: 5, queueLimit: 0);
        using var held = await limiter.AcquireAsync(Ct);

        using var rejected = limiter.AttemptAcquire(1);

        rejected.IsAcquired.Should().BeFalse();
        rejected.TryGetMetadata(MetadataName.RetryAfter, out _).Should().BeFalse("4 tokens are there: a zero wait would be a lie");
    }

    [Fact]
    public void AttemptAcquire_IdleForAnHour_HandsOutNoMoreThanTheBurst()
    {
        using var limiter = Create(permitsPerSecond: 10, burst: 3);
        limiter.AttemptAcquire(3).IsAcquired.Should().BeTrue();

        _time.Advance(TimeSpan.FromHours(1));

        limiter.IdleDuration.Should().BeCloseTo(TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(300));
        var leases = Enumerable.Range(0, 4).Select(_ => limiter.AttemptAcquire(1)).ToArray();
        leases.Select(l => l.IsAcquired).Should().Equal(true, true, true, false);
        RetryAfter(leases[3]).Should().Be(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task Lease_HoldsTheConcurrencyPermitUntilDisposedOnce()
    {
        using var limiter = Create(maxConcurrency: 2);
        var lease = await limiter.AcquireAsync(Ct);
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(1);
        limiter.IdleDuration.Should().BeNull();

        lease.Dispose();
        lease.Dispose();

        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(2, "a second Dispose gives nothing back twice");
        limiter.IdleDuration.Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public async Task Dispose_WithQueuedWaiters_FailsThemWithObjectDisposedException()
    {
        var limiter = Create(maxConcurrency: 1);
        var held = await limiter.AcquireAsync(Ct);
        var waiting = limiter.AcquireAsync(Ct).AsTask();

        limiter.Dispose();

        (await waiting.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ObjectDisposedException>())
            .Which.ObjectName.Should().Be(typeof(RequestRateLimiter).FullName);
        held.Dispose(); // giving a lease back after disposal is harmless
        limiter.Invoking(l => l.AcquireAsync(Ct)).Should().Throw<ObjectDisposedException>().Which.ObjectName.Should().Be(typeof(RequestRateLimiter).FullName);
    }

    [Fact]
    public void AcquireAsync_CancelledToken_ReturnsCanceledWithoutTakingAPermit()
    {
        using var limiter = Create(maxConcurrency: 1);
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        var task = limiter.AcquireAsync(cts.Token);

        task.IsCanceled.Should().BeTrue();
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(1);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void AttemptAcquire_PermitCountAboveTheSmallerLimit_Throws(int permitCount)
    {
        using var limiter = Create(maxConcurrency: 3, permitsPerSecond: 10, burst: 1);

        limiter.Invoking(l => l.AttemptAcquire(permitCount)).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("permitCount");
    }

    public static TheoryData<Action<RequestRateLimiterOptions>, string> BadOptions => new()
    {
        { o => o.MaxConcurrency = 0, "RequestRateLimiterOptions.MaxConcurrency must be at least 1 (was 0)." },
        { o => o.MaxConcurrency = -1, "RequestRateLimiterOptions.MaxConcurrency must be at least 1 (was -1)." },
        { o => o.MaxConcurrency = int.MinValue, $"RequestRateLimiterOptions.MaxConcurrency must be at least 1 (was {int.MinValue})." },
        { o => o.PermitsPerSecond = 0, "RequestRateLimiterOptions.PermitsPerSecond must be a positive number (PositiveInfinity for no rate limit) (was 0)." },
        { o => o.PermitsPerSecond = -1, "RequestRateLimiterOptions.PermitsPerSecond must be a positive number (PositiveInfinity for no rate limit) (was -1)." },
        { o => o.PermitsPerSecond = double.NaN, "RequestRateLimiterOptions.PermitsPerSecond must be a positive number (PositiveInfinity for no rate limit) (was NaN)." },
        { o => o.PermitsPerSecond = double.NegativeInfinity, "RequestRateLimiterOptions.PermitsPerSecond must be a positive number (PositiveInfinity for no rate limit) (was -Infinity)." },
        { o => o.Burst = 0, "RequestRateLimiterOptions.Burst must be at least 1 (was 0)." },
        { o => o.QueueLimit = -1, "RequestRateLimiterOptions.QueueLimit must be zero or more (was -1)." },
        { o => o.QueueProcessingOrder = (QueueProcessingOrder)7, "RequestRateLimiterOptions.QueueProcessingOrder must be QueueProcessingOrder.OldestFirst or QueueProcessingOrder.NewestFirst (was 7)." },
        { o => o.TimeProvider = null!, "RequestRateLimiterOptions.TimeProvider must be set (was null)." },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Constructor_InvalidOption_ThrowsNamingOptionsWithTheRulesMessage(Action<RequestRateLimiterOptions> breakIt, string expected)
    {
        var options = new RequestRateLimiterOptions();
        breakIt(options);

        FluentActions.Invoking(() => new RequestRateLimiter(options)).Should().Throw<ArgumentException>()
            .WithParameterName("options").WithMessage(expected + " (Parameter 'options')");
    }

    [Theory]
    [MemberData(nameof(BadOptions))]
    public async Task HostStart_InvalidOption_FailsWithTheConstructorsMessageNamingTheLimiter(Action<RequestRateLimiterOptions> breakIt, string expected)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new Microsoft.Extensions.Hosting.HostApplicationBuilderSettings());
        builder.Services.AddRequestRateLimiter("api", breakIt);
        using var host = builder.Build();

        var act = () => host.StartAsync(TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<Microsoft.Extensions.Options.OptionsValidationException>()).Which.Failures
            .Should().Equal($"RequestRateLimiterOptions 'api': {expected}");
    }

    [Theory]
    [InlineData(0, 1.0, "maxConcurrency")]
    [InlineData(1, 0.0, "permitsPerSecond")]
    [InlineData(1, -2.0, "permitsPerSecond")]
    public void Constructor_ShortOverloadBadArgument_ThrowsNamingIt(int maxConcurrency, double permitsPerSecond, string name)
    {
        FluentActions.Invoking(() => new RequestRateLimiter(maxConcurrency, permitsPerSecond, _time))
            .Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be(name);
    }

    [Fact]
    public async Task Constructor_ShortOverload_LimitsConcurrencyAndRate()
    {
        using var limiter = new RequestRateLimiter(2, 10, _time);

        using var first = await limiter.AcquireAsync(Ct);
        var second = limiter.AcquireAsync(Ct).AsTask();

        second.IsCompleted.Should().BeFalse();
        _time.Advance(TimeSpan.FromMilliseconds(100));
        second.IsCompleted.Should().BeTrue();
        using var secondLease = await second;
        limiter.AttemptAcquire(1).IsAcquired.Should().BeFalse();
    }

    [Fact]
    public async Task AcquireAsync_RandomAcquiresCancellationsAndReleasesFromManyThreads_KeepsEveryPermitAccountedFor()
    {
        var seed = Reliability.StressHarness.ReplaySeed ?? Reliability.StressHarness.CiSeed;
        using var limiter = new RequestRateLimiter(new RequestRateLimiterOptions { MaxConcurrency = 3, QueueLimit = 20 });
        var current = 0;
        var peak = 0;
        var granted = 0;
        var rejected = 0;

        async Task WorkerAsync(int worker)
        {
            var random = new Random(seed + worker);
            for (var i = 0; i < 300; i++)
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
                var pending = limiter.AcquireAsync(cts.Token);
                if (random.Next(4) == 0)
                {
                    await cts.CancelAsync();
                }

                RateLimitLease lease;
                try
                {
                    lease = await pending;
                }
                catch (OperationCanceledException) when (cts.IsCancellationRequested)
                {
                    continue;
                }

                using (lease)
                {
                    if (!lease.IsAcquired)
                    {
                        Interlocked.Increment(ref rejected);
                        continue;
                    }

                    Interlocked.Increment(ref granted);
                    InterlockedMax(ref peak, Interlocked.Increment(ref current));
                    if (random.Next(2) == 0)
                    {
                        await Task.Yield();
                    }

                    Interlocked.Decrement(ref current);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(() => WorkerAsync(w), Ct))).WaitAsync(FakeClock.HangTimeout, Ct);

        var stats = limiter.GetStatistics()!;
        peak.Should().BeLessThanOrEqualTo(3, "seed {0}", seed);
        granted.Should().BePositive("seed {0}", seed);
        stats.CurrentAvailablePermits.Should().Be(3, "every permit came back (seed {0})", seed);
        stats.CurrentQueuedCount.Should().Be(0, "seed {0}", seed);
        stats.TotalSuccessfulLeases.Should().Be(granted, "seed {0}", seed);
        stats.TotalFailedLeases.Should().Be(rejected, "seed {0}", seed);
    }

    private static void InterlockedMax(ref int location, int value)
    {
        var seen = Volatile.Read(ref location);
        while (value > seen)
        {
            var previous = Interlocked.CompareExchange(ref location, value, seen);
            if (previous == seen)
            {
                return;
            }

            seen = previous;
        }
    }

    [Fact]
    public void Constructor_NullOptions_ThrowsArgumentNullException()
    {
        var act = () => new RequestRateLimiter((RequestRateLimiterOptions)null!);
        act.Should().Throw<ArgumentNullException>().WithParameterName("options");
    }

    [Fact]
    public async Task Leases_MetadataNames_ListRetryAfterOnlyWhenAFailedLeaseCarriesIt()
    {
        using var limiter = Create(maxConcurrency: 1, permitsPerSecond: 10, queueLimit: 0);

        using var held = await limiter.AcquireAsync(Ct);
        held.IsAcquired.Should().BeTrue();
        held.MetadataNames.Should().BeEmpty();
        held.TryGetMetadata(MetadataName.RetryAfter.Name, out var heldMetadata).Should().BeFalse();
        heldMetadata.Should().BeNull();

        using var concurrencyShort = limiter.AttemptAcquire(0);
        concurrencyShort.IsAcquired.Should().BeFalse();

        using var rateOnly = Create(permitsPerSecond: 10, queueLimit: 0);
        using var first = rateOnly.AttemptAcquire(1);
        first.IsAcquired.Should().BeTrue();
        first.MetadataNames.Should().BeEmpty();
        first.TryGetMetadata(MetadataName.RetryAfter.Name, out var firstMetadata).Should().BeFalse();
        firstMetadata.Should().BeNull();

        using var rejected = rateOnly.AttemptAcquire(1);
        rejected.IsAcquired.Should().BeFalse();
        rejected.MetadataNames.Should().Equal(MetadataName.RetryAfter.Name);

        using var withoutWait = Create(maxConcurrency: 1, queueLimit: 0);
        using var taken = withoutWait.AttemptAcquire(1);
        using var failed = withoutWait.AttemptAcquire(1);
        failed.IsAcquired.Should().BeFalse();
        failed.MetadataNames.Should().BeEmpty();
    }
}
