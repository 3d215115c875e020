using System.Net;
using System.Text.Json;
using AsyncPatterns.IntegrationTests.TestSupport;
using AsyncPatterns.Pagination;
using AsyncPatterns.Timeouts;
using static AsyncPatterns.IntegrationTests.FaultInjection.FaultInjection;

namespace AsyncPatterns.IntegrationTests.FaultInjection;

/// <summary>
/// <see cref="Paginator.FromLinkHeader{T}"/> against a misbehaving server, bounded by
/// <see cref="OperationTimeout.RunAsync(Func{CancellationToken, Task}, TimeSpan, TimeProvider?, CancellationToken)"/>:
/// each fault surfaces as the documented exception and no connection is left open.
/// </summary>
public sealed class PaginatorFaultTests(LoopbackServerFixture fixture) : IClassFixture<LoopbackServerFixture>
{
    [Theory]
    [InlineData(ResetMidBody)]
    [InlineData(Slowloris)]
    [InlineData(StallMidBody)]
    [InlineData(TruncatedJson)]
    [InlineData(RedirectLoop)]
    [InlineData(HugeHeader)]
    public async Task FromLinkHeader_ServerFault_ThrowsDocumentedExceptionAndLeaksNoConnection(string fault)
    {
        var server = fixture.Server;
        Exception? thrown = null;
        var items = 0;
        using (var client = CreateClient())
        {
            try
            {
                await OperationTimeout.RunAsync(async ct =>
                {
                    await foreach (var item in Paginator.FromLinkHeader(client, Url(server, fault), FaultJson.Default.ServerItem).WithPrefetch(1).WithCancellation(ct))
                    {
                        items++;
                    }
                }, TimeoutFor(fault), cancellationToken: TestContext.Current.CancellationToken).WaitAsync(UpperBound, TestContext.Current.CancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !TestContext.Current.CancellationToken.IsCancellationRequested)
            {
                thrown = ex;
            }
        }

        thrown.Should().NotBeNull("{0} must fail the enumeration", fault);
        switch (fault)
        {
            case ResetMidBody:
                thrown.Should().Match<Exception>(e => e is IOException || e is HttpRequestException, "a reset is a network error ({0})", thrown);
                break;
            case Slowloris or StallMidBody:
                thrown.Should().BeOfType<OperationTimeoutException>("the enumeration is bounded by the timeout ({0})", thrown)
                    .Which.Timeout.Should().Be(FaultInjection.Timeout);
                break;
            case TruncatedJson:
                thrown.Should().BeAssignableTo<JsonException>("{0}", thrown);
                break;
            case RedirectLoop:
                thrown.Should().BeOfType<HttpRequestException>("a response that is not a success throws ({0})", thrown)
                    .Which.StatusCode.Should().Be(HttpStatusCode.Found);
                break;
            default:
                thrown.Should().BeOfType<HttpRequestException>("the client refuses the oversized header ({0})", thrown);
                break;
        }

        if (fault is not TruncatedJson)
        {
            items.Should().Be(0, "no complete item arrived before the fault");
        }

        await AssertNoOpenConnectionsAsync(server, fault);
    }
}
