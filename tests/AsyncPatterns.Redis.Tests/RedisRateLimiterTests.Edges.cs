using System.Threading.RateLimiting;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;

namespace AsyncPatterns.Redis.Tests;

/// <summary>Failover accounting, hostile loggers, metrics, NewestFirst.</summary>
public sealed partial class RedisRateLimiterTests
{
    [Fact]
    public async Task AcquireAsync_BackFromFailover_ChargesTheLocalGrantsSoTheReconnectAddsNoBurst()
    {
        await using var server = await RedisServer.StartAsync();
        using var multiplexer = await SharedRedis.ConnectAsync(server.ConnectionString);
        await using var limiter = new RedisRateLimiter(new()
        {
            ConnectionMultiplexer = multiplexer,
            Key = NewKey(),
            PermitsPerSecond = 0.01,
            Burst = 4,
            FaultPolicy = RedisFaultPolicy.FailOverToLocal,
            FailoverFraction = 0.5,
            OperationTimeout = TimeSpan.FromSeconds(5),
        });
        (await limiter.AcquireAsync(Ct)).IsAcquired.Should().BeTrue();

        await server.StopAsync();
        var local = new[] { await limiter.AcquireAsync(Ct), await limiter.AcquireAsync(Ct) };
        local.Should().OnlyContain(l => l.IsAcquired && l.MetadataNames.Contains(MetadataName.ReasonPhrase.Name), "the local limiter's burst is 2");

        // Redis comes back empty (no persistence): a full burst of 4, of which the 2 local grants are charged.
        await server.StartAgainAsync();
        await EventuallyAsync(
            () =>
            {
                using var probe = limiter.AttemptAcquire(0);
                return probe.IsAcquired && !probe.MetadataNames.Any();
            },
            "Redis answers again",
            seconds: 60);

        var shared = Enumerable.Range(0, 6).Select(_ => limiter.AttemptAcquire()).ToArray();

        shared.Count(l => l.IsAcquired).Should().Be(2, "B = 4 minus the 2 granted locally during the outage");
        shared.Should().OnlyContain(l => !l.MetadataNames.Contains(MetadataName.ReasonPhrase.Name));
    }

    [Fact]
    public async Task AcquireAsync_LoggerThrows_TheFaultPolicyStillApplies()
    {
        using var multiplexer = await SharedRedis.ConnectAsync(UnusedEndpoint());
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(new ThrowingLoggerProvider()));
        await using var limiter = new RedisRateLimiter(new()
        {
            ConnectionMultiplexer = multiplexer,
            Key = NewKey(),
            MaxConcurrency = 2,
            LoggerFactory = loggerFactory,
        });

        using var lease = await limiter.AcquireAsync(Ct);

        lease.IsAcquired.Should().BeFalse();
        lease.TryGetMetadata(MetadataName.ReasonPhrase, out _).Should().BeTrue();
    }

    [Fact]
    public async Task AcquireAsync_Metrics_CountGrantsAndRoundTripsOnTheAsyncPatternsMeter()
    {
        using var multiplexer = await redis.ConnectAsync();
        var key = NewKey();
        using var leases = new MetricCollector<long>(null, "AsyncPatterns", "asyncpatterns.redis.rate_limiter.leases");
        using var roundTrips = new MetricCollector<long>(null, "AsyncPatterns", "asyncpatterns.redis.rate_limiter.round_trips");
        await using var limiter = new RedisRateLimiter(new() { OperationTimeout = Slow, ConnectionMultiplexer = multiplexer, Key = key, PermitsPerSecond = 0.01, Burst = 2 });

        limiter.AttemptAcquire().IsAcquired.Should().BeTrue();
        (await limiter.AcquireAsync(Ct)).IsAcquired.Should().BeTrue();
        limiter.AttemptAcquire().IsAcquired.Should().BeFalse();

        bool Mine(CollectedMeasurement<long> m) => Equals(m.Tags["asyncpatterns.rate_limiter.key"], key);
        leases.GetMeasurementSnapshot().Where(Mine).Count(m => Equals(m.Tags["outcome"], "granted")).Should().Be(2);
        leases.GetMeasurementSnapshot().Where(Mine).Count(m => Equals(m.Tags["outcome"], "rejected")).Should().Be(1);
        roundTrips.GetMeasurementSnapshot().Where(Mine).Sum(m => m.Value).Should().Be(3);
    }

    [Fact]
    public async Task AcquireAsync_NewestFirstQueueFull_EvictsTheOldestWaiter()
    {
        var time = FakeClock.Create();
        using var multiplexer = await redis.ConnectAsync();
        var options = FakeClockOptions(multiplexer, time);
        options.PermitsPerSecond = 1;
        options.QueueLimit = 1;
        options.QueueProcessingOrder = QueueProcessingOrder.NewestFirst;
        await using var limiter = new RedisRateLimiter(options);
        (await limiter.AcquireAsync(Ct)).IsAcquired.Should().BeTrue();
        var oldest = limiter.AcquireAsync(Ct).AsTask();
        await EventuallyAsync(() => limiter.GetStatistics()!.CurrentQueuedCount == 1, "the first waiter is queued");

        var newest = limiter.AcquireAsync(Ct).AsTask();

        (await oldest.WaitAsync(TimeSpan.FromSeconds(20), Ct)).IsAcquired.Should().BeFalse("the newest took its place");
        await EventuallyAsync(() => limiter.GetStatistics()!.CurrentQueuedCount == 1, "the newest waiter is queued");
        await AdvanceUntilAsync(time, () => newest.IsCompleted, TimeSpan.FromMilliseconds(50));
        (await newest).IsAcquired.Should().BeTrue();
    }

    [Fact]
    public async Task Renewal_LeaseReclaimedWhileHeld_LogsLeaseLostOnceAndStopsRenewingIt()
    {
        var time = FakeClock.Create();
        using var multiplexer = await redis.ConnectAsync();
        using var logs = new Microsoft.Extensions.Logging.Testing.FakeLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        var options = FakeClockOptions(multiplexer, time);
        options.MaxConcurrency = 2;
        options.LeaseTime = TimeSpan.FromSeconds(3);
        options.LoggerFactory = loggerFactory;
        await using var limiter = new RedisRateLimiter(options);
        using var lease = await limiter.AcquireAsync(Ct);
        lease.IsAcquired.Should().BeTrue();
        var renewsBefore = limiter.RoundTrips;

        // Another process reclaimed it (as Redis does when the holder was cut off for the lease time).
        await multiplexer.GetDatabase().KeyDeleteAsync($"{{{options.Key}}}:leases");
        time.Advance(TimeSpan.FromSeconds(1));
        await EventuallyAsync(() => logs.Collector.GetSnapshot().Any(r => r.Id.Name == "LeaseLost"), "the loss is logged");

        // The timer starts a renewal synchronously, so two more periods would have counted two more round trips.
        time.Advance(TimeSpan.FromSeconds(1));
        time.Advance(TimeSpan.FromSeconds(1));
        await FakeClock.SettleAsync();

        logs.Collector.GetSnapshot().Count(r => r.Id.Name == "LeaseLost").Should().Be(1);
        (limiter.RoundTrips - renewsBefore).Should().Be(1, "a lost lease is renewed no more");
    }

    private sealed class ThrowingLoggerProvider : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new ThrowingLogger();

        public void Dispose()
        {
        }

        private sealed class ThrowingLogger : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                throw new InvalidOperationException("the logging provider is broken");
        }
    }
}
