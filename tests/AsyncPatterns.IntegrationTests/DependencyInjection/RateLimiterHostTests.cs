using System.Net;
using AsyncPatterns.IntegrationTests.TestSupport;
using AsyncPatterns.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AsyncPatterns.IntegrationTests.DependencyInjection;

/// <summary><c>AddRateLimiter(name)</c> under a real host, against Kestrel on 127.0.0.1.</summary>
public sealed class RateLimiterHostTests(LoopbackServerFixture fixture) : IClassFixture<LoopbackServerFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task StartAsync_ClientNamesAnUnregisteredLimiter_FailsNamingItAndTheRegisteredOnes()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddRequestRateLimiter("github", o => o.MaxConcurrency = 4);
        builder.Services.AddHttpClient("crawler").AddRateLimiter("gihtub");
        using var host = builder.Build();

        var start = () => host.StartAsync(Ct);

        (await start.Should().ThrowAsync<OptionsValidationException>()).Which.Message.Should().Be(
            "HttpClient 'crawler': AddRateLimiter(\"gihtub\") names no registered RateLimiter. Registered limiters: 'github'.");
    }

    [Fact]
    public async Task StartAsync_ClientNamesARegisteredLimiter_StartsAndRequestsTakeItsPermits()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddRequestRateLimiter("github", o => o.MaxConcurrency = 4);
        builder.Services.AddHttpClient("crawler").AddRateLimiter("github");
        using var host = builder.Build();

        await host.StartAsync(Ct);
        try
        {
            using var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("crawler");
            using var response = await client.GetAsync(fixture.Server.Url("items/1"), Ct);

            response.StatusCode.Should().Be(HttpStatusCode.OK);
            host.Services.GetRequiredKeyedService<RequestRateLimiter>("github").GetStatistics()!.TotalSuccessfulLeases.Should().Be(1);
        }
        finally
        {
            await host.StopAsync(Ct);
        }
    }
}
