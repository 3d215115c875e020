using System.Net;
using AsyncPatterns.Retries;

namespace AsyncPatterns.Tests.Retries;

/// <summary>An injected <see cref="RetryOptions.Randomizer"/> that throws or returns a value outside [0, 1].</summary>
public sealed partial class HttpRetryTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CreatePipeline_RandomizerThrows_DisposesTheResponseAndThrowsTheRandomizersException(bool withRetryAfter)
    {
        var clock = FakeClock.Create();
        var busy = StubResponse.Text("busy", HttpStatusCode.ServiceUnavailable);
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(
            withRetryAfter ? busy.WithHeader("Retry-After", "1") : busy, StubResponse.Text("ok"));
        using var client = new HttpClient(handler);
        var judged = new List<HttpResponseMessage>();
        var bug = new InvalidOperationException("no entropy");
        var options = Options(clock);
        options.UseJitter = true;
        options.Randomizer = () => throw bug;
        options.ShouldRetry = outcome =>
        {
            judged.Add((HttpResponseMessage)outcome.Result!);
            return true;
        };

        var act = () => SendAsync(HttpRetry.CreatePipeline(options), client);

        (await act.Should().ThrowAsync<InvalidOperationException>()).Which.Should().BeSameAs(bug);
        handler.RequestCount.Should().Be(1);
        var read = () => judged.Should().ContainSingle().Which.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        await read.Should().ThrowAsync<ObjectDisposedException>("nobody else can dispose the response whose retry failed");
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(-1.0)]
    [InlineData(2.0)]
    public async Task CreatePipeline_RandomizerReturnsAValueOutsideZeroToOne_DisposesTheResponseAndThrowsInvalidOperation(double value)
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(StubResponse.Text("busy", HttpStatusCode.ServiceUnavailable));
        using var client = new HttpClient(handler);
        var judged = new List<HttpResponseMessage>();
        var options = Options(clock);
        options.UseJitter = true;
        options.BackoffType = Polly.DelayBackoffType.Exponential;
        options.Randomizer = () => value;
        options.ShouldRetry = outcome =>
        {
            judged.Add((HttpResponseMessage)outcome.Result!);
            return true;
        };

        var task = SendAsync(HttpRetry.CreatePipeline(options), client);
        await FakeClock.SettleAsync();

        task.IsCompleted.Should().BeTrue();
        (await task.Awaiting(t => t).Should().ThrowAsync<InvalidOperationException>()).Which.Message.Should().Contain("RetryOptions.Randomizer");
        handler.RequestCount.Should().Be(1);
        var read = () => judged.Should().ContainSingle().Which.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        await read.Should().ThrowAsync<ObjectDisposedException>();
    }
}
