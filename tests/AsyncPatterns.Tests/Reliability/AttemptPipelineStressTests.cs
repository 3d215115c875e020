using System.Net;
using System.Threading.RateLimiting;
using AsyncPatterns.Retries;
using Microsoft.Extensions.DependencyInjection;

namespace AsyncPatterns.Tests.Reliability;

/// <summary>Measures retained memory, which is process-wide: runs alone, so no other test's allocations count.</summary>
[CollectionDefinition(nameof(AttemptPipelineStressTests), DisableParallelization = true)]
public sealed class AttemptPipelineStressCollection;

[Collection(nameof(AttemptPipelineStressTests))]
public sealed class AttemptPipelineStressTests
{
    private static readonly Uri Url = new("https://api.test/items?page=17");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AddAttemptPipeline_TenThousandCalls_RetainNoMemory()
    {
        var stub = new OkStub();
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 4, QueueLimit = 100 });
        var services = new ServiceCollection();
        services.AddHttpClient("api").ConfigurePrimaryHttpMessageHandler(() => stub)
            .AddAttemptPipeline(o => { o.RateLimiter = limiter; o.Retry = new RetryOptions { UseJitter = false }; });
        var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("api");
        await using var _ = provider;
        using var __ = client;
        for (var i = 0; i < 100; i++)
        {
            (await client.GetAsync(Url, Ct)).Dispose();
        }

        var before = RetainedBytes();
        for (var i = 0; i < 10_000; i++)
        {
            (await client.GetAsync(Url, Ct)).Dispose();
        }

        var after = RetainedBytes();
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(4);
        stub.Calls.Should().Be(10_100);
        (after - before).Should().BeLessThan(500_000, "10^4 calls must not retain their requests, timers or leases");
    }

    private static long RetainedBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    /// <summary>Answers 200 with a small body and keeps no record of the requests.</summary>
    private sealed class OkStub : HttpMessageHandler
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { RequestMessage = request, Content = new StringContent("ok") });
        }
    }
}
