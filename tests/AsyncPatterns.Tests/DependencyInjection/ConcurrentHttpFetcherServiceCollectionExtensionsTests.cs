using System.Text;
using AsyncPatterns.Http;
using AsyncPatterns.Retries;
using AsyncPatterns.Tests.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Polly;

namespace AsyncPatterns.Tests.DependencyInjection;

public sealed class ConcurrentHttpFetcherServiceCollectionExtensionsTests
{
    [Fact]
    public async Task AddConcurrentHttpFetcher_NamedClient_FetcherSendsThroughItsHandler()
    {
        using var stub = new StubHttpMessageHandler();
        stub.OnAnyRequest(StubResponse.Json("""{"id":3,"name":"c","price":2}"""));
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddConcurrentHttpFetcher("items", o => o.MaxConcurrency = 4)
            .ConfigurePrimaryHttpMessageHandler(() => stub);
        using var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);

        var fetcher = host.Services.GetRequiredKeyedService<ConcurrentHttpFetcher>("items");
        var results = await fetcher.FetchAllAsync([new Uri("http://stub.test/a")], HttpTestJson.Default.ServerItem, TestContext.Current.CancellationToken);

        results[0].Value!.Id.Should().Be(3);
        host.Services.GetRequiredService<ConcurrentHttpFetcher>().Should().BeSameAs(fetcher);
        stub.RequestCount.Should().Be(1);
        await host.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task AddConcurrentHttpFetcher_InvalidOptions_HostFailsToStart()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddConcurrentHttpFetcher("items", o => o.MaxConcurrency = 0);
        using var host = builder.Build();

        var act = () => host.StartAsync(TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Message.Should()
            .Be("FetchOptions 'items': FetchOptions.MaxConcurrency must be at least 1 (was 0).");
    }

    [Fact]
    public void AddConcurrentHttpFetcher_NullArguments_Throw()
    {
        var services = new ServiceCollection();

        services.Invoking(s => s.AddConcurrentHttpFetcher(null!)).Should().Throw<ArgumentNullException>();
        services.Invoking(s => s.AddConcurrentHttpFetcher("a", (Action<FetchOptions>)null!)).Should().Throw<ArgumentNullException>();
        services.Invoking(s => s.AddConcurrentHttpFetcher("a", (IConfigurationSection)null!)).Should().Throw<ArgumentNullException>()
            .WithParameterName("configuration");
    }

    [Fact]
    public async Task AddConcurrentHttpFetcher_JsonConfigurationWithRetry_BindsTheOptionsAndTheNestedRetry()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("""
            {
              "Fetchers": {
                "Items": {
                  "MaxConcurrency": 8,
                  "MaxConcurrencyPerHost": 2,
                  "PerRequestTimeout": "00:00:05",
                  "MaxResponseBytes": 4096,
                  "FailFast": true,
                  "Retry": { "MaxRetries": 5, "BaseDelay": "00:00:00.200", "BackoffType": "linear", "MaxDelay": "00:00:02", "UseJitter": false }
                }
              }
            }
            """)));
        builder.Services.AddConcurrentHttpFetcher("items", builder.Configuration.GetSection("Fetchers:Items"));
        using var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);

        var options = host.Services.GetRequiredService<IOptionsMonitor<FetchOptions>>().Get("items");

        options.MaxConcurrency.Should().Be(8);
        options.MaxConcurrencyPerHost.Should().Be(2);
        options.PerRequestTimeout.Should().Be(TimeSpan.FromSeconds(5));
        options.MaxResponseBytes.Should().Be(4096);
        options.FailFast.Should().BeTrue();
        options.Retry.Should().NotBeNull();
        options.Retry!.MaxRetries.Should().Be(5);
        options.Retry.BaseDelay.Should().Be(TimeSpan.FromMilliseconds(200));
        options.Retry.BackoffType.Should().Be(DelayBackoffType.Linear);
        options.Retry.MaxDelay.Should().Be(TimeSpan.FromSeconds(2));
        options.Retry.UseJitter.Should().BeFalse();
        host.Services.GetRequiredKeyedService<ConcurrentHttpFetcher>("items").Should().NotBeNull();
        await host.StopAsync(TestContext.Current.CancellationToken);
    }

    [Theory]
    [InlineData("MaxConcurrency", "eight", "Fetchers:Items:MaxConcurrency", "System.Int32")]
    [InlineData("PerRequestTimeout", "5s", "Fetchers:Items:PerRequestTimeout", "System.TimeSpan")]
    [InlineData("Retry:BackoffType", "Fibonacci", "Fetchers:Items:Retry:BackoffType", "Polly.DelayBackoffType")]
    public async Task AddConcurrentHttpFetcher_UnparsableConfigurationValue_HostFailsToStartNamingThePath(string key, string value, string path, string type)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection([new($"Fetchers:Items:{key}", value)]);
        builder.Services.AddConcurrentHttpFetcher("items", builder.Configuration.GetSection("Fetchers:Items"));
        using var host = builder.Build();

        var act = () => host.StartAsync(TestContext.Current.CancellationToken);

        await act.Should().ThrowAsync<InvalidOperationException>()
            .WithMessage($"Failed to convert configuration value '{value}' at '{path}' to type '{type}'.");
    }


    [Fact]
    public async Task AddConcurrentHttpFetcher_BothRetryAndResiliencePipeline_HostFailsToStartNamingTheFetcher()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddConcurrentHttpFetcher("items", o =>
        {
            o.Retry = new RetryOptions();
            o.ResiliencePipeline = ResiliencePipeline<HttpResponseMessage>.Empty;
        });
        using var host = builder.Build();

        var act = () => host.StartAsync(TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Message.Should()
            .Be("FetchOptions 'items': FetchOptions.Retry must be null when ResiliencePipeline is set (add the retry strategy to the pipeline instead) (was set).");
    }

    [Fact]
    public async Task AddConcurrentHttpFetcher_InvalidNestedRetryOptions_HostFailsToStartNamingTheFetcher()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddConcurrentHttpFetcher("items", o => o.Retry = new RetryOptions { MaxRetries = -1 });
        using var host = builder.Build();

        var act = () => host.StartAsync(TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Message.Should()
            .Be("FetchOptions 'items': FetchOptions.Retry.MaxRetries must be zero or more (was -1).");
    }

    [Fact]
    public async Task AddConcurrentHttpFetcher_TimeProviderRegistered_OptionsAndRetryUseItUnlessSet()
    {
        var time = FakeClock.Create();
        var own = FakeClock.Create();
        var services = new ServiceCollection().AddSingleton<TimeProvider>(time);
        services.AddConcurrentHttpFetcher("items", o => o.Retry = new RetryOptions());
        services.AddConcurrentHttpFetcher("own", o => o.TimeProvider = own);
        await using var provider = services.BuildServiceProvider();

        var monitor = provider.GetRequiredService<IOptionsMonitor<FetchOptions>>();

        monitor.Get("items").TimeProvider.Should().BeSameAs(time);
        monitor.Get("items").Retry!.TimeProvider.Should().BeSameAs(time);
        monitor.Get("own").TimeProvider.Should().BeSameAs(own);
    }
}
