using System.Net;
using System.Net.Sockets;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace AsyncPatterns.Redis.Tests;

/// <summary>Redis unreachable, frozen, restarted: the fault policy applies, an acquire never outwaits its cancellation, no burst follows.</summary>
public sealed partial class RedisRateLimiterTests
{
    private static string UnusedEndpoint()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return $"127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";
    }

    [Fact]
    public async Task AcquireAsync_RedisUnreachableFailClosed_RejectsWithTheReasonAndLogsOnce()
    {
        using var multiplexer = await SharedRedis.ConnectAsync(UnusedEndpoint());
        using var logs = new FakeLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        await using var limiter = new RedisRateLimiter(new()
        {
            ConnectionMultiplexer = multiplexer,
            Key = NewKey(),
            PermitsPerSecond = 10,
            LoggerFactory = loggerFactory,
        });

        using var first = await limiter.AcquireAsync(Ct);
        using var second = limiter.AttemptAcquire();

        foreach (var lease in new[] { first, second })
        {
            lease.IsAcquired.Should().BeFalse();
            lease.TryGetMetadata(MetadataName.ReasonPhrase, out var reason).Should().BeTrue();
            reason.Should().Contain("Redis is unavailable");
        }

        logs.Collector.GetSnapshot().Where(r => r.Id.Name == "RedisUnavailable").Should().ContainSingle()
            .Which.Level.Should().Be(LogLevel.Warning);
        limiter.GetStatistics()!.TotalFailedLeases.Should().Be(2);
    }

    [Fact]
    public async Task AcquireAsync_RedisUnreachableFailOver_GrantsFromALocalLimiterAtTheFraction()
    {
        var time = FakeClock.Create();
        using var multiplexer = await SharedRedis.ConnectAsync(UnusedEndpoint());
        await using var limiter = new RedisRateLimiter(new()
        {
            ConnectionMultiplexer = multiplexer,
            Key = NewKey(),
            PermitsPerSecond = 10,
            Burst = 4,
            MaxConcurrency = 8,
            FaultPolicy = RedisFaultPolicy.FailOverToLocal,
            FailoverFraction = 0.5,
            QueueLimit = 0,
            TimeProvider = time,
        });

        using var one = await limiter.AcquireAsync(Ct);
        using var two = limiter.AttemptAcquire();
        using var three = await limiter.AcquireAsync(Ct);

        one.IsAcquired.Should().BeTrue();
        two.IsAcquired.Should().BeTrue();
        one.TryGetMetadata(MetadataName.ReasonPhrase, out var reason).Should().BeTrue();
        reason.Should().Contain("Redis is unavailable");
        three.IsAcquired.Should().BeFalse("the local limiter's burst is max(1, floor(4 × 0.5)) = 2");
        three.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter).Should().BeTrue();
        retryAfter.Should().Be(TimeSpan.FromMilliseconds(200), "the local rate is 10 × 0.5 = 5 per second");
        using var moreThanTheLocalBurst = limiter.AttemptAcquire(3);
        moreThanTheLocalBurst.IsAcquired.Should().BeFalse();
        moreThanTheLocalBurst.TryGetMetadata(MetadataName.ReasonPhrase, out _).Should().BeTrue();
    }

    [Fact]
    public async Task AcquireAsync_RedisFrozen_FailsClosedAfterTheOperationTimeout()
    {
        await using var server = await RedisServer.StartAsync();
        using var multiplexer = await SharedRedis.ConnectAsync(server.ConnectionString);
        await using var limiter = new RedisRateLimiter(new()
        {
            ConnectionMultiplexer = multiplexer,
            Key = NewKey(),
            PermitsPerSecond = 100,
            MaxConcurrency = 5,
            OperationTimeout = TimeSpan.FromMilliseconds(300),
        });
        (await limiter.AcquireAsync(Ct)).Dispose();

        await server.SignalAsync("STOP");
        using var lease = await limiter.AcquireAsync(Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(20), Ct);
        await server.SignalAsync("CONT");

        lease.IsAcquired.Should().BeFalse();
        lease.TryGetMetadata(MetadataName.ReasonPhrase, out var reason).Should().BeTrue();
        reason.Should().Contain("did not answer");
    }

    [Fact]
    public async Task AcquireAsync_RedisFrozenAndCancelled_EndsWithTheCallersTokenBeforeTheOperationTimeout()
    {
        await using var server = await RedisServer.StartAsync();
        using var multiplexer = await SharedRedis.ConnectAsync(server.ConnectionString);
        await using var limiter = new RedisRateLimiter(new()
        {
            ConnectionMultiplexer = multiplexer,
            Key = NewKey(),
            PermitsPerSecond = 100,
            OperationTimeout = TimeSpan.FromMinutes(5),
        });
        (await limiter.AcquireAsync(Ct)).Dispose();
        await server.SignalAsync("STOP");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromMilliseconds(100));

        var acquire = limiter.AcquireAsync(cts.Token).AsTask();
        var thrown = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => acquire.WaitAsync(TimeSpan.FromSeconds(20), Ct));
        await server.SignalAsync("CONT");

        thrown.CancellationToken.Should().Be(cts.Token);
    }

    [Fact]
    public async Task AcquireAsync_RedisRestartedMidRun_FailsClosedWhileDownThenGrantsNoMoreThanTheBurst()
    {
        await using var server = await RedisServer.StartAsync();
        using var multiplexer = await SharedRedis.ConnectAsync(server.ConnectionString);
        var grants = new List<long>();
        await using var limiter = new RedisRateLimiter(new()
        {
            ConnectionMultiplexer = multiplexer,
            Key = NewKey(),
            PermitsPerSecond = 0.1,
            Burst = 3,
            OperationTimeout = TimeSpan.FromSeconds(5),
            GrantObserver = (nowUs, _) =>
            {
                lock (grants)
                {
                    grants.Add(nowUs);
                }
            },
        });
        (await limiter.AcquireAsync(Ct)).IsAcquired.Should().BeTrue();

        await server.StopAsync();
        using (var down = await limiter.AcquireAsync(Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(20), Ct))
        {
            down.IsAcquired.Should().BeFalse();
            down.TryGetMetadata(MetadataName.ReasonPhrase, out _).Should().BeTrue();
        }

        // Acquires while Redis is down are rejected at once (the multiplexer reports it is not connected).
        var duringOutage = Enumerable.Range(0, 5).Select(_ => limiter.AcquireAsync(Ct).AsTask()).ToArray();
        await server.StartAgainAsync();
        (await Task.WhenAll(duringOutage).WaitAsync(TimeSpan.FromSeconds(20), Ct)).Should().OnlyContain(l => !l.IsAcquired);
        await EventuallyAsync(() => limiter.AttemptAcquire(0).IsAcquired, "the multiplexer reconnected", seconds: 60);
        lock (grants)
        {
            grants.Clear();
        }

        var attempts = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Task.Run(() => limiter.AttemptAcquire(), Ct)));

        long[] granted;
        lock (grants)
        {
            granted = [.. grants.Order()];
        }

        // A full burst of 3 on the restarted Redis, never more; a slow machine may add the rate's 0.1 per second.
        var allowed = 3 + (granted.Length == 0 ? 0 : (int)Math.Floor(0.1 * (granted[^1] - granted[0]) / 1e6));
        attempts.Count(l => l.IsAcquired).Should().BeInRange(1, allowed);
        granted.Should().HaveCount(attempts.Count(l => l.IsAcquired));
    }

    [Fact]
    public async Task EveryScript_ServerScriptCacheFlushed_SentAgainByTextOnceAndThenByDigest()
    {
        await using var server = await RedisServer.StartAsync();
        using var multiplexer = await SharedRedis.ConnectAsync(server.ConnectionString + ",allowAdmin=true");
        var admin = multiplexer.GetServer(server.ConnectionString);
        var time = FakeClock.Create();
        using var logs = new FakeLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        var options = FakeClockOptions(multiplexer, time);
        options.MaxConcurrency = 4;
        options.LeaseTime = TimeSpan.FromSeconds(3);
        options.LoggerFactory = loggerFactory;
        await using var limiter = new RedisRateLimiter(options);
        var leasesKey = $"{{{options.Key}}}:leases";
        var database = multiplexer.GetDatabase();

        // Each script runs once by its text (the server may not have it), which loads it.
        var first = await limiter.AcquireAsync(Ct);
        first.IsAcquired.Should().BeTrue();
        first.Dispose();
        await EventuallyAsync(() => database.SortedSetLength(leasesKey) == 0, "the release reached Redis");
        using var held = limiter.AttemptAcquire();
        held.IsAcquired.Should().BeTrue();
        var before = limiter.RoundTrips;
        await time.AdvanceAsync(TimeSpan.FromSeconds(1));
        await EventuallyAsync(() => limiter.RoundTrips == before + 1, "the first renewal ran");

        // Flushed: a script sent by its digest is not known; the limiter sends its text once and carries on.
        await admin.ScriptFlushAsync();
        before = limiter.RoundTrips;
        using (var lease = await limiter.AcquireAsync(Ct))
        {
            lease.IsAcquired.Should().BeTrue("the acquire script is sent again by its text");
            (limiter.RoundTrips - before).Should().Be(2, "the digest was unknown (one reply), then the text ran");
            before = limiter.RoundTrips;
        }

        await EventuallyAsync(() => database.SortedSetLength(leasesKey) == 1, "the release reached Redis");
        (limiter.RoundTrips - before).Should().Be(2, "the flush emptied the whole cache: the release script also costs one reply, once");

        await admin.ScriptFlushAsync();
        before = limiter.RoundTrips;
        var attempt = limiter.AttemptAcquire();
        attempt.IsAcquired.Should().BeTrue("AttemptAcquire sends the text again too");
        (limiter.RoundTrips - before).Should().Be(2);
        before = limiter.RoundTrips;
        var again = limiter.AttemptAcquire();
        again.IsAcquired.Should().BeTrue();
        (limiter.RoundTrips - before).Should().Be(1, "once reloaded, the digest is known again");
        attempt.Dispose();
        again.Dispose();

        await EventuallyAsync(() => database.SortedSetLength(leasesKey) == 1, "the releases reached Redis");
        await admin.ScriptFlushAsync();
        before = limiter.RoundTrips;
        await time.AdvanceAsync(TimeSpan.FromSeconds(1));
        await EventuallyAsync(() => limiter.RoundTrips == before + 2, "the renewal was sent again by its text");
        var expiry = await database.SortedSetScoreAsync(leasesKey, (await database.SortedSetRangeByRankAsync(leasesKey))[0]);
        expiry.Should().Be((time.GetUtcNow() + options.LeaseTime - DateTimeOffset.UnixEpoch).Ticks / 10, "the renewal ran at the fake clock's time");
        logs.Collector.GetSnapshot().Should().NotContain(r => r.Id.Name == "RenewFailed" || r.Id.Name == "ReleaseFailed" || r.Id.Name == "LeaseLost");
    }
}
