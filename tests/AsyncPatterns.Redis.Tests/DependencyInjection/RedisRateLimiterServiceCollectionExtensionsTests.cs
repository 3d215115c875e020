using System.Net;
using System.Threading.RateLimiting;
using AsyncPatterns.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AsyncPatterns.Redis.Tests.DependencyInjection;

public sealed class RedisRateLimiterServiceCollectionExtensionsTests(SharedRedis redis)
{
    private static readonly TimeSpan Slow = TimeSpan.FromSeconds(15);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AddRedisRateLimiter_WithTheContainersMultiplexer_ResolvesOneSharedLimiterAsBothTypesKeyedByName()
    {
        using var multiplexer = await redis.ConnectAsync();
        var name = "asyncpatterns-test:" + Guid.NewGuid().ToString("N");
        var services = new ServiceCollection()
            .AddSingleton<IConnectionMultiplexer>(multiplexer)
            .AddRedisRateLimiter(name, o => { o.PermitsPerSecond = 0.01; o.Burst = 2; o.OperationTimeout = Slow; });
        await using var provider = services.BuildServiceProvider();
        provider.GetRequiredService<IStartupValidator>().Validate();

        var limiter = provider.GetRequiredKeyedService<RedisRateLimiter>(name);

        provider.GetRequiredKeyedService<RateLimiter>(name).Should().BeSameAs(limiter);
        limiter.AttemptAcquire(2).IsAcquired.Should().BeTrue();

        // The Redis key defaults to the name: a second limiter on the same key sees the spent burst.
        await using var sameKey = new RedisRateLimiter(new() { OperationTimeout = Slow, ConnectionMultiplexer = multiplexer, Key = name, PermitsPerSecond = 0.01, Burst = 2 });
        sameKey.AttemptAcquire().IsAcquired.Should().BeFalse();
    }

    [Fact]
    public async Task AddRedisRateLimiter_InvalidOptions_FailsValidationOnStartNamingTheLimiterAndProperty()
    {
        using var multiplexer = await redis.ConnectAsync();
        var services = new ServiceCollection()
            .AddSingleton<IConnectionMultiplexer>(multiplexer)
            .AddRedisRateLimiter("api", o => { o.PermitsPerSecond = 10; o.Burst = 0; });
        await using var provider = services.BuildServiceProvider();

        provider.Invoking(p => p.GetRequiredService<IStartupValidator>().Validate())
            .Should().Throw<OptionsValidationException>().WithMessage(
                "RedisRateLimiterOptions 'api': RedisRateLimiterOptions.Burst must be at least 1 and at most 1E+08 seconds' worth of PermitsPerSecond (was 0).");
    }

    [Fact]
    public async Task AddRedisRateLimiter_NoMultiplexerAnywhere_FailsValidationOnStart()
    {
        var services = new ServiceCollection().AddRedisRateLimiter("api", o => o.PermitsPerSecond = 10);
        await using var provider = services.BuildServiceProvider();

        provider.Invoking(p => p.GetRequiredService<IStartupValidator>().Validate())
            .Should().Throw<OptionsValidationException>().WithMessage("*'api'*ConnectionMultiplexer*");
    }

    [Fact]
    public async Task AddRedisRateLimiter_ConfigurationSection_BindsTheOptionsAndTakesTheClockFromTheContainer()
    {
        using var multiplexer = await redis.ConnectAsync();
        var time = FakeClock.Create();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection([
            new("RateLimiters:Api:Key", "asyncpatterns-test:" + Guid.NewGuid().ToString("N")),
            new("RateLimiters:Api:PermitsPerSecond", "0.5"),
            new("RateLimiters:Api:Burst", "3"),
            new("RateLimiters:Api:MaxConcurrency", "7"),
            new("RateLimiters:Api:QueueLimit", "0"),
            new("RateLimiters:Api:QueueProcessingOrder", "newestfirst"),
            new("RateLimiters:Api:LeaseTime", "00:01:00"),
            new("RateLimiters:Api:OperationTimeout", "00:00:15"),
            new("RateLimiters:Api:FaultPolicy", "FailOverToLocal"),
            new("RateLimiters:Api:FailoverFraction", "0.25"),
        ]);
        builder.Services.AddSingleton<IConnectionMultiplexer>(multiplexer).AddSingleton<TimeProvider>(time);
        builder.Services.AddRedisRateLimiter("api", builder.Configuration.GetSection("RateLimiters:Api"));
        using var host = builder.Build();
        await host.StartAsync(Ct);

        var options = host.Services.GetRequiredService<IOptionsMonitor<RedisRateLimiterOptions>>().Get("api");

        options.PermitsPerSecond.Should().Be(0.5);
        options.Burst.Should().Be(3);
        options.MaxConcurrency.Should().Be(7);
        options.QueueLimit.Should().Be(0);
        options.QueueProcessingOrder.Should().Be(QueueProcessingOrder.NewestFirst);
        options.LeaseTime.Should().Be(TimeSpan.FromMinutes(1));
        options.OperationTimeout.Should().Be(TimeSpan.FromSeconds(15));
        options.FaultPolicy.Should().Be(RedisFaultPolicy.FailOverToLocal);
        options.FailoverFraction.Should().Be(0.25);
        options.TimeProvider.Should().BeSameAs(time, "the container's clock is used when the options leave the default");
        options.ConnectionMultiplexer.Should().BeSameAs(multiplexer);
        await host.StopAsync(Ct);
    }

    [Theory]
    [InlineData("Burst", "0", "RedisRateLimiterOptions 'api': RedisRateLimiterOptions.Burst must be at least 1 and at most 1E+08 seconds' worth of PermitsPerSecond (was 0).")]
    [InlineData("Burst", "three", "Failed to convert configuration value 'three' at 'RateLimiters:Api:Burst' to type 'System.Int32'.")]
    public async Task AddRedisRateLimiter_ConfigurationSectionBadValue_HostStartFails(string key, string value, string expected)
    {
        using var multiplexer = await redis.ConnectAsync();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection([new("RateLimiters:Api:PermitsPerSecond", "10"), new($"RateLimiters:Api:{key}", value)]);
        builder.Services.AddSingleton<IConnectionMultiplexer>(multiplexer);
        builder.Services.AddRedisRateLimiter("api", builder.Configuration.GetSection("RateLimiters:Api"));
        using var host = builder.Build();

        var act = () => host.StartAsync(Ct);

        (await act.Should().ThrowAsync<Exception>()).Which.Message.Should().Match(expected);
    }

    [Fact]
    public void AddRedisRateLimiter_NullArguments_ThrowNamingThem()
    {
        var services = new ServiceCollection();

        services.Invoking(s => s.AddRedisRateLimiter(null!, _ => { })).Should().Throw<ArgumentNullException>().WithParameterName("name");
        services.Invoking(s => s.AddRedisRateLimiter("", _ => { })).Should().Throw<ArgumentException>().WithParameterName("name");
        services.Invoking(s => s.AddRedisRateLimiter("api", (Action<RedisRateLimiterOptions>)null!)).Should().Throw<ArgumentNullException>().WithParameterName("configure");
        services.Invoking(s => s.AddRedisRateLimiter("api", (IConfigurationSection)null!)).Should().Throw<ArgumentNullException>().WithParameterName("configuration");
        services.Invoking(s => s.AddRedisRateLimiter(null!)).Should().Throw<ArgumentNullException>().WithParameterName("name");
        FluentActions.Invoking(() => ((IServiceCollection)null!).AddRedisRateLimiter("api", _ => { })).Should().Throw<ArgumentNullException>().WithParameterName("services");
    }

    [Fact]
    public async Task AddRateLimiter_OnHttpClientBuilder_LimitsTheClientWithTheRedisLimiterAndLogsThroughTheContainer()
    {
        using var multiplexer = await SharedRedis.ConnectAsync("127.0.0.1:1");
        using var logs = new FakeLoggerProvider();
        var stub = new StubHttpMessageHandler().OnAnyRequest(StubResponse.Text("ok"));
        var services = new ServiceCollection()
            .AddLogging(b => b.AddProvider(logs))
            .AddSingleton<IConnectionMultiplexer>(multiplexer)
            .AddRedisRateLimiter("api", o => o.PermitsPerSecond = 10);
        services.AddHttpClient("client").ConfigurePrimaryHttpMessageHandler(() => stub).AddRateLimiter("api");
        await using var provider = services.BuildServiceProvider();
        using var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("client");

        // Redis is unreachable and the policy fails closed: the handler rejects the request before it is sent.
        await FluentActions.Awaiting(() => client.GetAsync(new Uri("https://api.test/"), Ct))
            .Should().ThrowAsync<AsyncPatterns.RateLimiting.RateLimitRejectedException>();
        stub.RequestCount.Should().Be(0);
        logs.Collector.GetSnapshot().Should().Contain(r => r.Id.Name == "RedisUnavailable" && r.Category == typeof(RedisRateLimiter).FullName);
    }

    [Fact]
    public async Task FetchOptionsRateLimiter_RedisLimiter_PacesTheFetcher()
    {
        using var multiplexer = await redis.ConnectAsync();
        await using var limiter = new RedisRateLimiter(new()
        {
            ConnectionMultiplexer = multiplexer,
            Key = "asyncpatterns-test:" + Guid.NewGuid().ToString("N"),
            OperationTimeout = Slow,
            PermitsPerSecond = 1000,
            Burst = 3,
        });
        var stub = new StubHttpMessageHandler().OnAnyRequest(StubResponse.Text("ok"));
        using var http = new HttpClient(stub);
        var fetcher = new ConcurrentHttpFetcher(http, new FetchOptions { RateLimiter = limiter });

        var results = await fetcher.FetchAllRawAsync(
            Enumerable.Range(0, 5).Select(i => new Uri($"https://api.test/{i}")).ToArray(), Ct);

        results.Should().OnlyContain(r => r.IsSuccess && r.StatusCode == HttpStatusCode.OK);
        limiter.GetStatistics()!.TotalSuccessfulLeases.Should().Be(5);
    }
}
