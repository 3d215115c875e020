using System.Net;
using AsyncPatterns.Retries;
using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.Tests.Retries;

/// <summary>A <see cref="RetryOptions.TimeProvider"/> that throws while an HTTP-date <c>Retry-After</c> is read.</summary>
public sealed partial class HttpRetryTests
{
    [Fact]
    public async Task CreatePipeline_TimeProviderThrowsReadingAnHttpDateRetryAfter_DisposesTheResponseAndThrowsTheClocksError()
    {
        var handlerClock = FakeClock.Create();
        var retryAfter = handlerClock.GetUtcNow().AddSeconds(5).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        using var handler = new StubHttpMessageHandler(handlerClock).OnAnyRequest(
            StubResponse.Text("busy", HttpStatusCode.ServiceUnavailable).WithHeader("Retry-After", retryAfter), StubResponse.Text("ok"));
        using var client = new HttpClient(handler);
        var judged = new List<HttpResponseMessage>();
        var options = Options(FakeClock.Create());
        options.TimeProvider = new NowThrowingClock(FakeClock.Create());
        options.ShouldRetry = outcome =>
        {
            judged.Add((HttpResponseMessage)outcome.Result!);
            return true;
        };

        var act = () => SendAsync(HttpRetry.CreatePipeline(options), client);

        (await act.Should().ThrowAsync<InvalidOperationException>()).Which.Message.Should().Be("no wall clock");
        handler.RequestCount.Should().Be(1);
        var read = () => judged.Should().ContainSingle().Which.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        await read.Should().ThrowAsync<ObjectDisposedException>("nobody else can dispose the response whose Retry-After could not be read");
    }

    /// <summary>A fake clock whose timestamps and timers work but whose wall clock throws.</summary>
    private sealed class NowThrowingClock(FakeTimeProvider inner) : TimeProvider
    {
        public override long TimestampFrequency => inner.TimestampFrequency;

        public override long GetTimestamp() => inner.GetTimestamp();

        public override DateTimeOffset GetUtcNow() => throw new InvalidOperationException("no wall clock");

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            inner.CreateTimer(callback, state, dueTime, period);
    }
}
