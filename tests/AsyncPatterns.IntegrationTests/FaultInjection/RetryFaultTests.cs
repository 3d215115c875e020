using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AsyncPatterns.IntegrationTests.TestSupport;
using AsyncPatterns.Retries;
using static AsyncPatterns.IntegrationTests.FaultInjection.FaultInjection;

namespace AsyncPatterns.IntegrationTests.FaultInjection;

/// <summary>
/// <see cref="Retry.ExecuteAsync{T}"/> around an <see cref="HttpClient"/> call (with <see cref="HttpClient.Timeout"/> as the
/// per-attempt timeout) against a misbehaving server: every fault is retried up to <see cref="RetryOptions.MaxRetries"/>,
/// then the last attempt's exception surfaces; no connection is left open.
/// </summary>
public sealed class RetryFaultTests(LoopbackServerFixture fixture) : IClassFixture<LoopbackServerFixture>
{
    private const int MaxRetries = 2;

    [Theory]
    [InlineData(ResetMidBody)]
    [InlineData(Slowloris)]
    [InlineData(StallMidBody)]
    [InlineData(TruncatedJson)]
    [InlineData(RedirectLoop)]
    [InlineData(HugeHeader)]
    public async Task ExecuteAsync_HttpCallToServerFault_RetriesThenThrowsLastErrorAndLeaksNoConnection(string fault)
    {
        var server = fixture.Server;
        var attempts = 0;
        Exception? thrown = null;
        using (var client = CreateClient(TimeoutFor(fault)))
        {
            try
            {
                await Retry.ExecuteAsync(async ct =>
                {
                    Interlocked.Increment(ref attempts);
                    using var response = await client.GetAsync(Url(server, fault), ct);
                    response.EnsureSuccessStatusCode();
                    return await response.Content.ReadFromJsonAsync(FaultJson.Default.ListServerItem, ct);
                }, new RetryOptions { MaxRetries = MaxRetries, BaseDelay = TimeSpan.FromMilliseconds(20), UseJitter = false }, TestContext.Current.CancellationToken)
                    .WaitAsync(UpperBound, TestContext.Current.CancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !TestContext.Current.CancellationToken.IsCancellationRequested)
            {
                thrown = ex;
            }
        }

        attempts.Should().Be(MaxRetries + 1, "{0} is retried until the retries run out", fault);
        switch (fault)
        {
            case Slowloris or StallMidBody:
                thrown.Should().BeAssignableTo<TaskCanceledException>("HttpClient.Timeout ends each attempt ({0})", thrown)
                    .Which.InnerException.Should().BeOfType<TimeoutException>();
                break;
            case TruncatedJson:
                thrown.Should().BeAssignableTo<JsonException>("{0}", thrown);
                break;
            case RedirectLoop:
                thrown.Should().BeOfType<HttpRequestException>("{0}", thrown).Which.StatusCode.Should().Be(HttpStatusCode.Found);
                break;
            default:
                thrown.Should().BeOfType<HttpRequestException>("a reset or an oversized header is a network error ({0})", thrown);
                break;
        }

        await AssertNoOpenConnectionsAsync(server, fault);
    }
}
