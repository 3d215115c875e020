using System.Threading.RateLimiting;
using AsyncPatterns.Http;
using AsyncPatterns.Retries;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Polly;

namespace AsyncPatterns.Tests.Http;

public sealed class FetchOptionsTests
{
    [Fact]
    public void Constructor_Defaults_AreTheDocumentedOnes()
    {
        var options = new FetchOptions();

        options.MaxConcurrency.Should().Be(16).And.Be(FetchOptions.DefaultMaxConcurrency);
        options.MaxConcurrencyPerHost.Should().BeNull();
        options.PerRequestTimeout.Should().Be(TimeSpan.FromSeconds(30));
        options.MaxResponseBytes.Should().Be(10 * 1024 * 1024).And.Be(FetchOptions.DefaultMaxResponseBytes);
        options.FailFast.Should().BeFalse();
        options.RateLimiter.Should().BeNull();
        options.ResiliencePipeline.Should().BeNull();
        options.TimeProvider.Should().BeSameAs(TimeProvider.System);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const string TimeoutRule = "positive and at most about 49.7 days (the longest timer), or Timeout.InfiniteTimeSpan";

    public static TheoryData<string, Action<FetchOptions>, string> BrokenRules => new()
    {
        { "MaxConcurrency 0", o => o.MaxConcurrency = 0, "FetchOptions.MaxConcurrency must be at least 1 (was 0)." },
        { "MaxConcurrency -1", o => o.MaxConcurrency = -1, "FetchOptions.MaxConcurrency must be at least 1 (was -1)." },
        { "MaxConcurrency int.MinValue", o => o.MaxConcurrency = int.MinValue, $"FetchOptions.MaxConcurrency must be at least 1 (was {int.MinValue})." },
        { "MaxConcurrencyPerHost 0", o => o.MaxConcurrencyPerHost = 0, "FetchOptions.MaxConcurrencyPerHost must be at least 1 or null (was 0)." },
        { "MaxConcurrencyPerHost -1", o => o.MaxConcurrencyPerHost = -1, "FetchOptions.MaxConcurrencyPerHost must be at least 1 or null (was -1)." },
        { "PerRequestTimeout zero", o => o.PerRequestTimeout = TimeSpan.Zero, $"FetchOptions.PerRequestTimeout must be {TimeoutRule} (was 00:00:00)." },
        { "PerRequestTimeout -1 s", o => o.PerRequestTimeout = TimeSpan.FromSeconds(-1), $"FetchOptions.PerRequestTimeout must be {TimeoutRule} (was -00:00:01)." },
        { "PerRequestTimeout longest timer + 1 ms", o => o.PerRequestTimeout = TimeSpan.FromMilliseconds(uint.MaxValue), $"FetchOptions.PerRequestTimeout must be {TimeoutRule} (was 49.17:02:47.2950000)." },
        { "PerRequestTimeout MaxValue", o => o.PerRequestTimeout = TimeSpan.MaxValue, $"FetchOptions.PerRequestTimeout must be {TimeoutRule} (was 10675199.02:48:05.4775807)." },
        { "MaxResponseBytes 0", o => o.MaxResponseBytes = 0, "FetchOptions.MaxResponseBytes must be at least 1 (was 0)." },
        { "MaxResponseBytes long.MinValue", o => o.MaxResponseBytes = long.MinValue, $"FetchOptions.MaxResponseBytes must be at least 1 (was {long.MinValue})." },
        { "TimeProvider null", o => o.TimeProvider = null!, "FetchOptions.TimeProvider must be set (was null)." },
        {
            "Retry with ResiliencePipeline",
            o => { o.Retry = new RetryOptions(); o.ResiliencePipeline = ResiliencePipeline<HttpResponseMessage>.Empty; },
            "FetchOptions.Retry must be null when ResiliencePipeline is set (add the retry strategy to the pipeline instead) (was set)."
        },
        { "Retry.MaxRetries -1", o => o.Retry = new RetryOptions { MaxRetries = -1 }, "FetchOptions.Retry.MaxRetries must be zero or more (was -1)." },
        { "Retry.BaseDelay 2 days", o => o.Retry = new RetryOptions { BaseDelay = TimeSpan.FromDays(2) }, "FetchOptions.Retry.BaseDelay must be between zero and one day (RetryOptions.MaxAllowedDelay) (was 2.00:00:00)." },
        { "Retry.MaxTotalDelay zero", o => o.Retry = new RetryOptions { MaxTotalDelay = TimeSpan.Zero }, "FetchOptions.Retry.MaxTotalDelay must be positive or null (was 00:00:00)." },
    };

    [Fact]
    public void Setters_InvalidValues_StoreThemWithoutThrowing()
    {
        var options = new FetchOptions { MaxConcurrency = 0, MaxConcurrencyPerHost = -1, PerRequestTimeout = TimeSpan.Zero, MaxResponseBytes = 0, TimeProvider = null! };

        options.MaxConcurrency.Should().Be(0);
        options.MaxConcurrencyPerHost.Should().Be(-1);
        options.PerRequestTimeout.Should().Be(TimeSpan.Zero);
        options.MaxResponseBytes.Should().Be(0);
        options.TimeProvider.Should().BeNull();
    }

    [Theory]
    [MemberData(nameof(BrokenRules))]
    public void Constructor_BrokenRule_ThrowsNamingOptionsWithTheRulesMessage(string rule, Action<FetchOptions> configure, string expected)
    {
        var options = new FetchOptions();
        configure(options);
        using var client = new HttpClient();

        var act = () => new AsyncPatterns.Http.ConcurrentHttpFetcher(client, options);

        act.Should().Throw<ArgumentException>(rule).WithParameterName("options").WithMessage(expected + " (Parameter 'options')");
    }

    [Theory]
    [MemberData(nameof(BrokenRules))]
    public async Task HostStart_BrokenRule_FailsWithTheConstructorsMessageNamingTheFetcher(string rule, Action<FetchOptions> configure, string expected)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddConcurrentHttpFetcher("catalog", configure);
        using var host = builder.Build();

        var act = () => host.StartAsync(Ct);

        var thrown = await act.Should().ThrowAsync<OptionsValidationException>(rule);
        thrown.Which.Failures.Should().Equal($"FetchOptions 'catalog': {expected}");
        thrown.Which.OptionsName.Should().Be("catalog");
    }

    [Fact]
    public void Constructor_SeveralRulesBroken_ListsEveryOneWithTheNestedPath()
    {
        using var client = new HttpClient();
        var options = new FetchOptions { MaxConcurrency = 0, Retry = new RetryOptions { MaxRetries = -1, MaxDelay = TimeSpan.Zero } };

        var act = () => new AsyncPatterns.Http.ConcurrentHttpFetcher(client, options);

        act.Should().Throw<ArgumentException>().WithParameterName("options").WithMessage(
            "FetchOptions.MaxConcurrency must be at least 1 (was 0). FetchOptions.Retry.MaxRetries must be zero or more (was -1). "
            + "FetchOptions.Retry.MaxDelay must be positive and at most one day (RetryOptions.MaxAllowedDelay), or null (was 00:00:00). (Parameter 'options')");
    }

    [Fact]
    public void Constructor_ValuesAtTheLimits_AreAccepted()
    {
        using var client = new HttpClient();
        var longest = new FetchOptions { MaxConcurrency = int.MaxValue, MaxConcurrencyPerHost = 1, PerRequestTimeout = TimeSpan.FromMilliseconds(uint.MaxValue - 1), MaxResponseBytes = long.MaxValue };
        var shortest = new FetchOptions { MaxConcurrency = 1, MaxConcurrencyPerHost = int.MaxValue, PerRequestTimeout = TimeSpan.FromTicks(1), MaxResponseBytes = 1, Retry = new RetryOptions { MaxRetries = 0 } };
        var infinite = new FetchOptions { PerRequestTimeout = Timeout.InfiniteTimeSpan };

        FluentActions.Invoking(() => new AsyncPatterns.Http.ConcurrentHttpFetcher(client, longest)).Should().NotThrow();
        FluentActions.Invoking(() => new AsyncPatterns.Http.ConcurrentHttpFetcher(client, shortest)).Should().NotThrow();
        FluentActions.Invoking(() => new AsyncPatterns.Http.ConcurrentHttpFetcher(client, infinite)).Should().NotThrow();
    }

    [Fact]
    public async Task HostStart_BadNestedRetryValueBoundFromConfiguration_FailsNamingTheFetcherAndThePath()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection([new("Fetchers:Catalog:MaxConcurrency", "0"), new("Fetchers:Catalog:Retry:MaxRetries", "-2")]);
        builder.Services.AddConcurrentHttpFetcher("catalog", builder.Configuration.GetSection("Fetchers:Catalog"));
        using var host = builder.Build();

        var act = () => host.StartAsync(Ct);

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Failures.Should().Equal(
            "FetchOptions 'catalog': FetchOptions.MaxConcurrency must be at least 1 (was 0).",
            "FetchOptions 'catalog': FetchOptions.Retry.MaxRetries must be zero or more (was -2).");
    }

    [Fact]
    public async Task Fetcher_OptionsChangedAfterCreation_KeepsTheCopyItWasGiven()
    {
        using var handler = new StubHttpMessageHandler();
        handler.OnAnyRequest(StubResponse.Json("{\"id\":1,\"name\":\"a\",\"price\":1}"));
        using var client = new HttpClient(handler);
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 });
        var options = new FetchOptions { MaxResponseBytes = 1024 };
        var fetcher = new AsyncPatterns.Http.ConcurrentHttpFetcher(client, options);

        options.MaxResponseBytes = 1;
        options.RateLimiter = limiter;
        options.ResiliencePipeline = ResiliencePipeline<HttpResponseMessage>.Empty;
        var results = await fetcher.FetchAllAsync([new Uri("http://stub.test/a")], HttpTestJson.Default.ServerItem, TestContext.Current.CancellationToken);

        results[0].IsSuccess.Should().BeTrue();
    }
}
