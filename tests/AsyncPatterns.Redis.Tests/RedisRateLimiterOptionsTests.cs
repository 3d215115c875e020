using System.Threading.RateLimiting;
using StackExchange.Redis;

namespace AsyncPatterns.Redis.Tests;

public sealed class RedisRateLimiterOptionsTests(SharedRedis redis)
{
    public static TheoryData<string, Action<RedisRateLimiterOptions>> Invalid => new()
    {
        { "ConnectionMultiplexer", o => o.ConnectionMultiplexer = null },
        { "Key", o => o.Key = "" },
        { "Key", o => o.Key = null! },
        { "Database", o => o.Database = -2 },
        { "PermitsPerSecond", o => o.PermitsPerSecond = 0 },
        { "PermitsPerSecond", o => o.PermitsPerSecond = -1 },
        { "PermitsPerSecond", o => o.PermitsPerSecond = double.NaN },
        { "PermitsPerSecond", o => o.PermitsPerSecond = double.NegativeInfinity },
        { "PermitsPerSecond", o => o.PermitsPerSecond = 2e6 },
        { "PermitsPerSecond", o => { o.PermitsPerSecond = double.PositiveInfinity; o.MaxConcurrency = int.MaxValue; } },
        { "Burst", o => o.Burst = 0 },
        { "Burst", o => { o.PermitsPerSecond = 1e-6; o.Burst = 1000; } },
        { "MaxConcurrency", o => o.MaxConcurrency = 0 },
        { "QueueLimit", o => o.QueueLimit = -1 },
        { "QueueProcessingOrder", o => o.QueueProcessingOrder = (QueueProcessingOrder)7 },
        { "LeaseTime", o => o.LeaseTime = TimeSpan.FromMilliseconds(99) },
        { "LeaseTime", o => o.LeaseTime = TimeSpan.FromDays(2) },
        { "LeaseTime", o => o.LeaseTime = Timeout.InfiniteTimeSpan },
        { "OperationTimeout", o => o.OperationTimeout = TimeSpan.Zero },
        { "OperationTimeout", o => o.OperationTimeout = TimeSpan.FromMinutes(6) },
        { "FaultPolicy", o => o.FaultPolicy = (RedisFaultPolicy)9 },
        { "FailoverFraction", o => o.FailoverFraction = 0 },
        { "FailoverFraction", o => o.FailoverFraction = 1.5 },
        { "FailoverFraction", o => o.FailoverFraction = double.NaN },
        { "TimeProvider", o => o.TimeProvider = null! },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public async Task Constructor_OptionOutOfRange_ThrowsNamingOptionsAndTheProperty(string property, Action<RedisRateLimiterOptions> corrupt)
    {
        using var multiplexer = await redis.ConnectAsync();
        var options = new RedisRateLimiterOptions { ConnectionMultiplexer = multiplexer, Key = "k", PermitsPerSecond = 10 };
        corrupt(options);

        var thrown = FluentActions.Invoking(() => new RedisRateLimiter(options)).Should().Throw<ArgumentException>().Which;

        thrown.ParamName.Should().Be("options");
        thrown.Message.Should().StartWith($"RedisRateLimiterOptions.{property} must be ").And.Contain("(was ").And.EndWith(" (Parameter 'options')");
    }

    [Fact]
    public void Constructor_SeveralBrokenRules_ListsEveryOneInOneMessage()
    {
        var options = new RedisRateLimiterOptions { Key = "", Burst = 0, LeaseTime = TimeSpan.Zero };

        FluentActions.Invoking(() => new RedisRateLimiter(options)).Should().Throw<ArgumentException>()
            .WithParameterName("options")
            .WithMessage(
                "RedisRateLimiterOptions.ConnectionMultiplexer must be set (was null). " +
                "RedisRateLimiterOptions.Key must be a non-empty string (was empty). " +
                "RedisRateLimiterOptions.Burst must be at least 1 and at most 1E+08 seconds' worth of PermitsPerSecond (was 0). " +
                "RedisRateLimiterOptions.PermitsPerSecond must be finite when MaxConcurrency is int.MaxValue (a shared limiter must limit something) (was Infinity). " +
                "RedisRateLimiterOptions.LeaseTime must be between 100 milliseconds and 1 day (was 00:00:00). (Parameter 'options')");
    }

    [Fact]
    public void Constructor_NullOptions_ThrowsNamingThem() =>
        FluentActions.Invoking(() => new RedisRateLimiter(null!)).Should().Throw<ArgumentNullException>().WithParameterName("options");

    [Fact]
    public void Defaults_AreTheDocumentedOnes()
    {
        var options = new RedisRateLimiterOptions();
        options.PermitsPerSecond.Should().Be(double.PositiveInfinity);
        options.Burst.Should().Be(1);
        options.MaxConcurrency.Should().Be(int.MaxValue);
        options.QueueLimit.Should().Be(int.MaxValue);
        options.QueueProcessingOrder.Should().Be(QueueProcessingOrder.OldestFirst);
        options.LeaseTime.Should().Be(TimeSpan.FromSeconds(30));
        options.OperationTimeout.Should().Be(TimeSpan.FromSeconds(1));
        options.FaultPolicy.Should().Be(RedisFaultPolicy.FailClosed);
        options.FailoverFraction.Should().Be(0.5);
        options.Database.Should().Be(-1);
        options.TimeProvider.Should().BeSameAs(TimeProvider.System);
        options.ConnectionMultiplexer.Should().BeNull();
        options.Key.Should().BeEmpty();
    }

    [Fact]
    public async Task Constructor_LimitsAtTheirBounds_AreAccepted()
    {
        using var multiplexer = await redis.ConnectAsync();
        using var slowest = new RedisRateLimiter(new RedisRateLimiterOptions
        {
            ConnectionMultiplexer = multiplexer,
            Key = "asyncpatterns-test:" + Guid.NewGuid().ToString("N"),
            PermitsPerSecond = RedisRateLimiterOptions.MinPermitsPerSecond,
            Burst = 100,
            LeaseTime = TimeSpan.FromDays(1),
            OperationTimeout = TimeSpan.FromMinutes(5),
        });
        slowest.AttemptAcquire(100).IsAcquired.Should().BeTrue();
        using var rejected = slowest.AttemptAcquire();
        rejected.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter).Should().BeTrue();
        retryAfter.Should().BeCloseTo(TimeSpan.FromSeconds(1e6), TimeSpan.FromSeconds(1));
    }
}
