using System.Net;
using AsyncPatterns.IntegrationTests.Pagination;
using AsyncPatterns.IntegrationTests.TestSupport;
using AsyncPatterns.Pagination;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.Retries;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AsyncPatterns.IntegrationTests.Http;

/// <summary>AddAttemptPipeline and AddHttpRetry under a real host, against the loopback Kestrel server.</summary>
public sealed class AttemptPipelineIntegrationTests(LoopbackServerFixture fixture) : IClassFixture<LoopbackServerFixture>
{
    private readonly LoopbackServer _server = fixture.Server;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private IHost BuildHost(Action<AsyncPatterns.Http.AttemptPipelineOptions> configure)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddRequestRateLimiter("server", o => o.MaxConcurrency = 2);
        builder.Services.AddHttpClient("server", c => c.BaseAddress = _server.BaseAddress).AddAttemptPipeline(o =>
        {
            o.Retry = new RetryOptions { MaxRetries = 3, BaseDelay = TimeSpan.FromMilliseconds(5), UseJitter = false };
            o.RateLimiterName = "server";
            o.AttemptTimeout = TimeSpan.FromSeconds(10);
            configure(o);
        });
        return builder.Build();
    }

    private int Hits(string pathAndQuery) => _server.Requests.Count(r => r.Path == pathAndQuery);

    [Fact]
    public async Task AddAttemptPipeline_UnderAHost_PlainGetAsyncIsRetriedThroughTwo429sAndGivesThePermitsBack()
    {
        using var host = BuildHost(_ => { });
        await host.StartAsync(Ct);
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("server");
        var path = $"/ratelimited?key={Guid.NewGuid():N}&times=2&retryAfter=0";

        using var response = await client.GetAsync(path, Ct);

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        Hits(path).Should().Be(3);
        host.Services.GetRequiredKeyedService<RequestRateLimiter>("server").GetStatistics()!.CurrentAvailablePermits.Should().Be(2);
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task AddAttemptPipeline_TypoInTheLimiterName_FailsWhenTheHostStartsNamingIt()
    {
        using var host = BuildHost(o => o.RateLimiterName = "sevrer");

        var thrown = await host.Awaiting(h => h.StartAsync(Ct)).Should().ThrowAsync<OptionsValidationException>();

        thrown.Which.Message.Should().StartWith("AttemptPipelineOptions 'server': AttemptPipelineOptions.RateLimiterName must be the name of a registered keyed RateLimiter")
            .And.EndWith("(was 'sevrer').");
    }

    [Fact]
    public async Task AddAttemptPipeline_ServerThatNeverAnswers_EachAttemptTimesOutThenTheCallThrowsTimeoutException()
    {
        using var host = BuildHost(o => { o.AttemptTimeout = TimeSpan.FromSeconds(1); o.Retry!.MaxRetries = 1; });
        await host.StartAsync(Ct);
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("server");
        var path = $"/hold/{Guid.NewGuid():N}";

        var thrown = await client.Awaiting(c => c.GetAsync(path.TrimStart('/'), Ct)).Should().ThrowAsync<TimeoutException>();

        thrown.Which.Message.Should().Contain(path).And.Contain("attempt timeout of 00:00:01");
        Hits(path).Should().Be(2, "one attempt and one retry, each timed out");
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task FromLinkHeader_OverTheConfiguredClient_ReadsEveryItem()
    {
        using var host = BuildHost(_ => { });
        await host.StartAsync(Ct);
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("server");

        var items = new List<ServerItem>();
        await foreach (var item in Paginator.FromLinkHeader(client, new Uri("items/link?page=1&per_page=60", UriKind.Relative), ServerJsonContext.Default.ServerItem)
            .WithCancellation(Ct))
        {
            items.Add(item);
        }

        items.Should().Equal(_server.Items);
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task FromLinkHeader_PageThatKeepsFailing_ThrowsAfterItsRetriesNamingTheUrlAndStatus()
    {
        using var host = BuildHost(o => o.Retry!.MaxRetries = 1);
        await host.StartAsync(Ct);
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("server");
        var path = $"/items/link?page=1&per_page=30&fail=true&run={Guid.NewGuid():N}";
        var paginator = Paginator.FromLinkHeader(client, new Uri(path.TrimStart('/'), UriKind.Relative), ServerJsonContext.Default.ServerItem);

        var seen = 0;
        var thrown = await paginator.Awaiting(async Task (p) =>
        {
            await foreach (var _ in p.WithCancellation(Ct))
            {
                seen++;
            }
        }).Should().ThrowAsync<HttpRequestException>();

        seen.Should().Be(0);

        thrown.Which.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        thrown.Which.Message.Should().Contain(new Uri(_server.BaseAddress, path).AbsoluteUri).And.Contain("500");
        Hits(path).Should().Be(2, "one attempt and one retry");
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task AddHttpRetry_InAddResilienceHandlerUnderAHost_RetriesThroughTwo429s()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddHttpClient("server", c => c.BaseAddress = _server.BaseAddress)
            .AddResilienceHandler("server", b => b.AddHttpRetry(new RetryOptions { BaseDelay = TimeSpan.FromMilliseconds(5), UseJitter = false }));
        using var host = builder.Build();
        await host.StartAsync(Ct);
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("server");
        var path = $"/ratelimited?key={Guid.NewGuid():N}&times=2&retryAfter=0";

        using var response = await client.GetAsync(path, Ct);

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        Hits(path).Should().Be(3);
        await host.StopAsync(Ct);
    }
}
