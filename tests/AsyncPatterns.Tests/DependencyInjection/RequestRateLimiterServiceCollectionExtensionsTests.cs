using System.Net;
using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.Tests.DependencyInjection;

public sealed class RequestRateLimiterServiceCollectionExtensionsTests
{
    private readonly FakeTimeProvider _time = FakeClock.Create();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AddRequestRateLimiter_SameName_ResolvesOneSharedLimiterAsBothTypes()
    {
        var services = new ServiceCollection();
        services.AddRequestRateLimiter("api", o => { o.MaxConcurrency = 2; o.TimeProvider = _time; });
        services.AddRequestRateLimiter("other", o => o.MaxConcurrency = 1);
        await using var provider = services.BuildServiceProvider();

        var limiter = provider.GetRequiredKeyedService<RequestRateLimiter>("api");

        provider.GetRequiredKeyedService<RequestRateLimiter>("api").Should().BeSameAs(limiter);
        provider.GetRequiredKeyedService<RateLimiter>("api").Should().BeSameAs(limiter);
        provider.GetRequiredKeyedService<RequestRateLimiter>("other").Should().NotBeSameAs(limiter);
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(2);
        provider.GetRequiredKeyedService<RateLimiter>("other").GetStatistics()!.CurrentAvailablePermits.Should().Be(1);
    }

    [Fact]
    public async Task AddRequestRateLimiter_InvalidOptions_FailsValidationOnStartNamingTheLimiter()
    {
        var services = new ServiceCollection().AddRequestRateLimiter("api", o => o.PermitsPerSecond = 0).Services;
        await using var provider = services.BuildServiceProvider();

        provider.Invoking(p => p.GetRequiredService<IStartupValidator>().Validate())
            .Should().Throw<OptionsValidationException>().WithMessage("*'api'*PermitsPerSecond*");
    }

    [Fact]
    public void AddRequestRateLimiter_NullArguments_Throw()
    {
        var services = new ServiceCollection();

        services.Invoking(s => s.AddRequestRateLimiter(null!, _ => { })).Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("name");
        services.Invoking(s => s.AddRequestRateLimiter("api", (Action<RequestRateLimiterOptions>)null!)).Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("configure");
        services.Invoking(s => s.AddRequestRateLimiter("api", (IConfigurationSection)null!)).Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("configuration");
    }

    [Fact]
    public async Task AddRequestRateLimiter_ConfigurationSection_BindsTheOptionsAndChainsMoreConfiguration()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection([
            new("Limiters:GitHub:MaxConcurrency", "3"),
            new("Limiters:GitHub:PermitsPerSecond", "0.5"),
            new("Limiters:GitHub:Burst", "2"),
            new("Limiters:GitHub:QueueLimit", "7"),
            new("Limiters:GitHub:QueueProcessingOrder", "NewestFirst"),
        ]).Build();
        var services = new ServiceCollection();
        services.AddRequestRateLimiter("github", configuration.GetSection("Limiters:GitHub")).Configure(o => o.QueueLimit = 9);
        await using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptionsMonitor<RequestRateLimiterOptions>>().Get("github");

        options.MaxConcurrency.Should().Be(3);
        options.PermitsPerSecond.Should().Be(0.5);
        options.Burst.Should().Be(2);
        options.QueueLimit.Should().Be(9, "configuration chained after the binding wins");
        options.QueueProcessingOrder.Should().Be(QueueProcessingOrder.NewestFirst);
    }

    [Fact]
    public async Task AddRequestRateLimiter_TimeProviderRegistered_TheLimiterRunsOnItUnlessTheOptionsSetOne()
    {
        var own = FakeClock.Create();
        var services = new ServiceCollection().AddSingleton<TimeProvider>(_time);
        services.AddRequestRateLimiter("paced", o => { o.PermitsPerSecond = 1; o.Burst = 1; });
        services.AddRequestRateLimiter("own", o => o.TimeProvider = own);
        await using var provider = services.BuildServiceProvider();
        var monitor = provider.GetRequiredService<IOptionsMonitor<RequestRateLimiterOptions>>();
        monitor.Get("own").TimeProvider.Should().BeSameAs(own);
        var limiter = provider.GetRequiredKeyedService<RequestRateLimiter>("paced");
        using var first = await limiter.AcquireAsync(cancellationToken: Ct);

        var second = limiter.AcquireAsync(cancellationToken: Ct).AsTask();
        await FakeClock.SettleAsync();
        second.IsCompleted.Should().BeFalse();
        _time.Advance(TimeSpan.FromSeconds(1));
        using var lease = await second.WaitAsync(FakeClock.HangTimeout, Ct);

        lease.IsAcquired.Should().BeTrue("the registered fake clock paced the limiter");
    }

    [Fact]
    public async Task AddRateLimiter_OnHttpClientBuilder_LimitsEveryClientOfTheNameWithTheSharedLimiter()
    {
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Text("ok").WithDelay(TimeSpan.FromSeconds(1)));
        var services = new ServiceCollection().AddRequestRateLimiter("api", o => { o.MaxConcurrency = 1; o.TimeProvider = _time; }).Services;
        services.AddHttpClient("client").ConfigurePrimaryHttpMessageHandler(() => stub).AddRateLimiter("api");
        await using var provider = services.BuildServiceProvider();
        var factory = provider.GetRequiredService<IHttpClientFactory>();
        using var a = factory.CreateClient("client");
        using var b = factory.CreateClient("client");

        var first = a.GetAsync(new Uri("https://api.test/1"), Ct);
        var second = b.GetAsync(new Uri("https://api.test/2"), Ct);
        await FakeClock.WaitUntilAsync(() => stub.RequestCount == 1, cancellationToken: Ct);
        await FakeClock.SettleAsync();
        stub.RequestCount.Should().Be(1);
        provider.GetRequiredKeyedService<RequestRateLimiter>("api").GetStatistics()!.CurrentQueuedCount.Should().Be(1);

        await _time.AdvanceUntilCompletedAsync(Task.WhenAll(first, second), TimeSpan.FromMilliseconds(100));

        stub.PeakInFlight.Should().Be(1);
        (await first).StatusCode.Should().Be(HttpStatusCode.OK);
        (await second).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task AddRateLimiter_UnregisteredLimiterName_FailsValidationOnStartNamingItAndTheRegisteredOnes()
    {
        var services = new ServiceCollection();
        services.AddRequestRateLimiter("github", o => o.MaxConcurrency = 1);
        services.AddRequestRateLimiter("azure", o => o.MaxConcurrency = 1);
        services.AddHttpClient("client").AddRateLimiter("gihtub");
        await using var provider = services.BuildServiceProvider();

        var error = provider.Invoking(p => p.GetRequiredService<IStartupValidator>().Validate())
            .Should().Throw<OptionsValidationException>().Which;

        error.Message.Should().Be(
            "HttpClient 'client': AddRateLimiter(\"gihtub\") names no registered RateLimiter. Registered limiters: 'azure', 'github'.");
    }

    [Fact]
    public async Task AddRateLimiter_NoLimiterRegistered_FailsValidationOnStartSayingHowToRegisterOne()
    {
        var services = new ServiceCollection();
        services.AddHttpClient("client").AddRateLimiter("api");
        await using var provider = services.BuildServiceProvider();

        provider.Invoking(p => p.GetRequiredService<IStartupValidator>().Validate())
            .Should().Throw<OptionsValidationException>()
            .WithMessage("HttpClient 'client': AddRateLimiter(\"api\") names no registered RateLimiter. No limiter is registered: add one with services.AddRequestRateLimiter(\"api\", ...).");
    }

    [Fact]
    public async Task AddRateLimiter_LimiterRegisteredAfterTheClientOrByHand_PassesValidationOnStart()
    {
        using var own = new RequestRateLimiter(new RequestRateLimiterOptions { TimeProvider = _time });
        var services = new ServiceCollection();
        services.AddHttpClient("client").AddRateLimiter("api").AddRateLimiter("own");
        services.AddRequestRateLimiter("api", o => o.MaxConcurrency = 1);
        services.AddKeyedSingleton<RateLimiter>("own", own);
        await using var provider = services.BuildServiceProvider();

        provider.Invoking(p => p.GetRequiredService<IStartupValidator>().Validate()).Should().NotThrow();
    }

    [Fact]
    public async Task AddRateLimiter_UnregisteredLimiterNameWithoutValidationOnStart_FirstRequestThrowsTheSameMessage()
    {
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Text("ok"));
        var services = new ServiceCollection().AddRequestRateLimiter("github", o => o.MaxConcurrency = 1).Services;
        services.AddHttpClient("client").ConfigurePrimaryHttpMessageHandler(() => stub).AddRateLimiter("gihtub");
        await using var provider = services.BuildServiceProvider();

        var create = () => provider.GetRequiredService<IHttpClientFactory>().CreateClient("client");

        create.Should().Throw<InvalidOperationException>()
            .WithMessage("HttpClient 'client': AddRateLimiter(\"gihtub\") names no registered RateLimiter. Registered limiters: 'github'.");
        stub.RequestCount.Should().Be(0);
    }

    [Fact]
    public void AddRateLimiter_NullOrEmptyLimiterName_Throws()
    {
        var builder = new ServiceCollection().AddHttpClient("client");

        builder.Invoking(b => b.AddRateLimiter((string)null!)).Should().Throw<ArgumentNullException>().WithParameterName("limiterName");
        builder.Invoking(b => b.AddRateLimiter(" ")).Should().Throw<ArgumentException>().WithParameterName("limiterName");
    }

    [Fact]
    public async Task AddRateLimiter_WithInstance_UsesThatLimiter()
    {
        using var limiter = new RequestRateLimiter(new RequestRateLimiterOptions { PermitsPerSecond = 1, QueueLimit = 0, TimeProvider = _time });
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Text("ok"));
        var services = new ServiceCollection();
        services.AddHttpClient("client").ConfigurePrimaryHttpMessageHandler(() => stub).AddRateLimiter(limiter);
        await using var provider = services.BuildServiceProvider();
        using var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("client");

        (await client.GetAsync(new Uri("https://api.test/1"), Ct)).Dispose();

        (await client.Awaiting(c => c.GetAsync(new Uri("https://api.test/2"), Ct)).Should().ThrowAsync<RateLimitRejectedException>())
            .Which.RetryAfter.Should().Be(TimeSpan.FromSeconds(1));
        stub.RequestCount.Should().Be(1);
    }
}
