using System.Net;
using AsyncPatterns.Http;
using AsyncPatterns.IntegrationTests.TestSupport;
using static AsyncPatterns.IntegrationTests.FaultInjection.FaultInjection;

namespace AsyncPatterns.IntegrationTests.FaultInjection;

/// <summary>
/// <see cref="ConcurrentHttpFetcher"/> against a misbehaving server: each fault becomes the documented
/// <see cref="FetchErrorKind"/> within <see cref="FetchOptions.PerRequestTimeout"/>, a healthy request beside it
/// succeeds, and no connection is left open.
/// </summary>
public sealed class ConcurrentHttpFetcherFaultTests(LoopbackServerFixture fixture) : IClassFixture<LoopbackServerFixture>
{
    [Theory]
    [InlineData(ResetMidBody, FetchErrorKind.Network)]
    [InlineData(Slowloris, FetchErrorKind.Timeout)]
    [InlineData(StallMidBody, FetchErrorKind.Timeout)]
    [InlineData(TruncatedJson, FetchErrorKind.InvalidContent)]
    [InlineData(RedirectLoop, FetchErrorKind.HttpStatus)]
    [InlineData(HugeHeader, FetchErrorKind.Network)]
    public async Task FetchAllAsync_ServerFault_GivesDocumentedErrorKindAndLeaksNoConnection(string fault, FetchErrorKind expected)
    {
        var server = fixture.Server;
        IReadOnlyList<FetchResult<List<ServerItem>>> results;
        using (var client = CreateClient())
        {
            var fetcher = new ConcurrentHttpFetcher(client, new FetchOptions { PerRequestTimeout = TimeoutFor(fault), MaxConcurrency = 4 });
            results = await fetcher.FetchAllAsync(
                    [Url(server, fault), server.Url("items?pageSize=20")], FaultJson.Default.ListServerItem, TestContext.Current.CancellationToken)
                .WaitAsync(UpperBound, TestContext.Current.CancellationToken);
        }

        results.Should().HaveCount(2);
        results[0].IsSuccess.Should().BeFalse(fault);
        results[0].Error!.Kind.Should().Be(expected, "{0}: {1}", fault, results[0].Error);
        if (fault == RedirectLoop)
        {
            results[0].StatusCode.Should().Be(HttpStatusCode.Found, "the client stops following after its redirect limit");
        }

        results[1].IsSuccess.Should().BeTrue("a healthy request beside the fault is unaffected");
        results[1].Value.Should().HaveCount(20);
        await AssertNoOpenConnectionsAsync(server, fault);
    }
}
