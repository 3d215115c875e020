using System.Net;
using System.Net.Http.Headers;
using AsyncPatterns.Retries;
using Microsoft.Extensions.Time.Testing;
using Polly;
using Polly.Timeout;

namespace AsyncPatterns.Tests.Retries;

public sealed partial class HttpRetryTests
{
    private static readonly Uri Url = new("http://stub.test/items");

    private static RetryOptions Options(FakeTimeProvider clock) => new()
    {
        MaxRetries = 3,
        BaseDelay = TimeSpan.FromSeconds(1),
        UseJitter = false,
        TimeProvider = clock,
    };

    private static Task<HttpResponseMessage> SendAsync(ResiliencePipeline<HttpResponseMessage> pipeline, HttpClient client, ResilienceContext? context = null)
    {
        var ct = TestContext.Current.CancellationToken;
        return context is null
            ? pipeline.ExecuteAsync(async token => await client.GetAsync(Url, token), ct).AsTask()
            : pipeline.ExecuteAsync(static async (ctx, c) => await c.GetAsync(Url, ctx.CancellationToken), context, client).AsTask();
    }

    [Fact]
    public async Task CreatePipeline_429WithRetryAfter5_WaitsFiveSecondsNotTheBackoff()
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(
            StubResponse.TooManyRequests(TimeSpan.FromSeconds(5)), StubResponse.Text("ok"));
        using var client = new HttpClient(handler);

        var task = SendAsync(HttpRetry.CreatePipeline(Options(clock)), client);
        await FakeClock.SettleAsync();
        handler.RequestCount.Should().Be(1);

        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(4999));
        handler.RequestCount.Should().Be(1, "the server asked for 5 s, not the 1 s backoff");
        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(1));

        using var response = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken);
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        handler.Requests[1].ArrivedAt.Should().Be(handler.Requests[0].ArrivedAt + TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task CreatePipeline_RetryAfterHttpDate_IsMeasuredOnTheInjectedClock()
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(
            StubResponse.Status(HttpStatusCode.ServiceUnavailable).WithRetryAfter(clock.GetUtcNow() + TimeSpan.FromSeconds(10)),
            StubResponse.Text("ok"));
        using var client = new HttpClient(handler);

        var task = SendAsync(HttpRetry.CreatePipeline(Options(clock)), client);
        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(9999));
        handler.RequestCount.Should().Be(1);
        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(1));

        using var response = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken);
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        handler.Requests[1].ArrivedAt.Should().Be(clock.Start + TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task CreatePipeline_RetryAfterBeyondRemainingBudget_StopsRetryingAndReturnsTheResponse()
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(
            StubResponse.TooManyRequests(TimeSpan.FromSeconds(60)), StubResponse.Text("ok"));
        using var client = new HttpClient(handler);
        var options = Options(clock);
        options.MaxTotalDelay = TimeSpan.FromSeconds(10);

        var task = SendAsync(HttpRetry.CreatePipeline(options), client);
        await FakeClock.SettleAsync();

        task.IsCompleted.Should().BeTrue("a Retry-After of 60 s does not fit a budget of 10 s");
        using var response = await task;
        response.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        handler.RequestCount.Should().Be(1);
    }

    [Fact]
    public async Task CreatePipeline_RetryAfterWithinBudgetThenBeyondWhatRemains_StopsAtTheSecond()
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(
            StubResponse.TooManyRequests(TimeSpan.FromSeconds(6)),
            StubResponse.TooManyRequests(TimeSpan.FromSeconds(6)),
            StubResponse.Text("ok"));
        using var client = new HttpClient(handler);
        var options = Options(clock);
        options.MaxTotalDelay = TimeSpan.FromSeconds(10);

        var task = SendAsync(HttpRetry.CreatePipeline(options), client);
        using var response = await clock.AdvanceUntilCompletedAsync(task, TimeSpan.FromSeconds(1));

        response.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        handler.RequestCount.Should().Be(2, "6 s were spent, and 6 s more do not fit the remaining 4 s");
    }

    [Theory]
    [InlineData(HttpStatusCode.RequestTimeout)]
    [InlineData(HttpStatusCode.TooManyRequests)]
    [InlineData(HttpStatusCode.InternalServerError)]
    [InlineData(HttpStatusCode.BadGateway)]
    [InlineData(HttpStatusCode.ServiceUnavailable)]
    [InlineData(HttpStatusCode.GatewayTimeout)]
    public async Task CreatePipeline_TransientStatus_RetriesWithTheBackoffAndDisposesTheFailedResponse(HttpStatusCode status)
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(StubResponse.Text("busy", status), StubResponse.Text("ok"));
        using var client = new HttpClient(handler);
        var retried = new List<HttpResponseMessage>();
        var options = Options(clock);
        options.OnRetry = a => retried.Add((HttpResponseMessage)a.Result!);

        var task = SendAsync(HttpRetry.CreatePipeline(options), client);
        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(999));
        handler.RequestCount.Should().Be(1);
        using var response = await clock.AdvanceUntilCompletedAsync(task, TimeSpan.FromMilliseconds(1));

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).Should().Be("ok");
        retried.Should().ContainSingle().Which.StatusCode.Should().Be(status);
        var read = () => retried[0].Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        await read.Should().ThrowAsync<ObjectDisposedException>("a retried response is disposed");
    }

    [Theory]
    [InlineData(HttpStatusCode.BadRequest)]
    [InlineData(HttpStatusCode.Unauthorized)]
    [InlineData(HttpStatusCode.Forbidden)]
    [InlineData(HttpStatusCode.NotFound)]
    [InlineData(HttpStatusCode.Conflict)]
    public async Task CreatePipeline_OtherClientError_IsReturnedWithoutRetry(HttpStatusCode status)
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(StubResponse.Status(status), StubResponse.Text("ok"));
        using var client = new HttpClient(handler);

        using var response = await SendAsync(HttpRetry.CreatePipeline(Options(clock)), client);

        response.StatusCode.Should().Be(status);
        handler.RequestCount.Should().Be(1);
    }

    [Fact]
    public async Task CreatePipeline_HttpRequestException_IsRetriedAndAttemptsAreCounted()
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(
            StubResponse.Throw(new HttpRequestException("connection refused")),
            StubResponse.Throw(new HttpRequestException("connection reset")),
            StubResponse.Text("ok"));
        using var client = new HttpClient(handler);
        var context = ResilienceContextPool.Shared.Get(TestContext.Current.CancellationToken);

        using var response = await clock.AdvanceUntilCompletedAsync(
            SendAsync(HttpRetry.CreatePipeline(Options(clock)), client, context), TimeSpan.FromMilliseconds(500));

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        Retry.GetAttemptCount(context).Should().Be(3);
        ResilienceContextPool.Shared.Return(context);
    }

    [Fact]
    public async Task CreatePipeline_AllAttemptsTransient_ReturnsTheLastResponseUndisposed()
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(StubResponse.Text("down", HttpStatusCode.ServiceUnavailable));
        using var client = new HttpClient(handler);

        using var response = await clock.AdvanceUntilCompletedAsync(
            SendAsync(HttpRetry.CreatePipeline(Options(clock)), client), TimeSpan.FromMilliseconds(500));

        response.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        handler.RequestCount.Should().Be(4);
        (await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).Should().Be("down");
    }

    [Fact]
    public async Task CreatePipeline_CallerCancelsDuringRetryAfterWait_EndsAtOnce()
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(StubResponse.TooManyRequests(TimeSpan.FromSeconds(30)), StubResponse.Text("ok"));
        using var client = new HttpClient(handler);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);

        var task = HttpRetry.CreatePipeline(Options(clock)).ExecuteAsync(async ct => await client.GetAsync(Url, ct), cts.Token).AsTask();
        await clock.AdvanceAsync(TimeSpan.FromSeconds(1));
        task.IsCompleted.Should().BeFalse();

        await cts.CancelAsync();
        (await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken).Awaiting(t => t)
            .Should().ThrowAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(cts.Token);
        handler.RequestCount.Should().Be(1);
    }

    [Fact]
    public async Task CreatePipeline_CustomShouldRetry_ReplacesTheHttpPredicate()
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(StubResponse.Status(HttpStatusCode.NotFound), StubResponse.Text("ok"));
        using var client = new HttpClient(handler);
        var options = Options(clock);
        options.ShouldRetry = o => o.Result is HttpResponseMessage { StatusCode: HttpStatusCode.NotFound };

        using var response = await clock.AdvanceUntilCompletedAsync(SendAsync(HttpRetry.CreatePipeline(options), client), TimeSpan.FromMilliseconds(500));
        response.StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData(408, true)]
    [InlineData(429, true)]
    [InlineData(500, true)]
    [InlineData(599, true)]
    [InlineData(200, false)]
    [InlineData(400, false)]
    [InlineData(404, false)]
    [InlineData(499, false)]
    public void IsTransient_StatusCode_MatchesTheDocumentedSet(int status, bool expected)
    {
        HttpRetry.IsTransient((HttpStatusCode)status).Should().Be(expected);
        using var response = new HttpResponseMessage((HttpStatusCode)status);
        HttpRetry.IsTransient(response).Should().Be(expected);
        HttpRetry.IsTransient(Outcome.FromResult(response)).Should().Be(expected);
    }

    [Fact]
    public void IsTransient_Exceptions_RetriesNetworkFailuresAndTimeoutsOnly()
    {
        HttpRetry.IsTransient(new HttpRequestException()).Should().BeTrue();
        HttpRetry.IsTransient(new TimeoutException()).Should().BeTrue();
        HttpRetry.IsTransient(new TimeoutRejectedException()).Should().BeTrue();
        HttpRetry.IsTransient(new TaskCanceledException("HttpClient.Timeout", new TimeoutException())).Should().BeTrue();
        HttpRetry.IsTransient(new TaskCanceledException()).Should().BeFalse();
        HttpRetry.IsTransient(new InvalidOperationException()).Should().BeFalse();
        HttpRetry.IsTransient(Outcome.FromException<HttpResponseMessage>(new HttpRequestException())).Should().BeTrue();
    }

    [Fact]
    public void GetRetryAfter_ReadsDeltaAndDateAgainstTheGivenClock()
    {
        var clock = FakeClock.Create();
        using var delta = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        delta.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(7));
        HttpRetry.GetRetryAfter(delta, clock).Should().Be(TimeSpan.FromSeconds(7));

        using var date = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        date.Headers.RetryAfter = new RetryConditionHeaderValue(clock.GetUtcNow() + TimeSpan.FromMinutes(2));
        HttpRetry.GetRetryAfter(date, clock).Should().Be(TimeSpan.FromMinutes(2));

        using var past = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        past.Headers.RetryAfter = new RetryConditionHeaderValue(clock.GetUtcNow() - TimeSpan.FromMinutes(2));
        HttpRetry.GetRetryAfter(past, clock).Should().Be(TimeSpan.Zero);

        using var none = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        HttpRetry.GetRetryAfter(none, clock).Should().BeNull();
    }

    [Fact]
    public void Arguments_Null_ThrowArgumentNullException()
    {
        var response = () => HttpRetry.IsTransient((HttpResponseMessage)null!);
        response.Should().Throw<ArgumentNullException>().WithParameterName("response");
        var exception = () => HttpRetry.IsTransient((Exception)null!);
        exception.Should().Throw<ArgumentNullException>().WithParameterName("exception");
        var retryAfter = () => HttpRetry.GetRetryAfter(null!);
        retryAfter.Should().Throw<ArgumentNullException>().WithParameterName("response");
    }

    [Fact]
    public void GetRetryAfter_NegativeDelta_IsZero()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        response.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(-3));
        HttpRetry.GetRetryAfter(response).Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public async Task CreatePipeline_ZeroRetries_SendsOnceAndReturnsTheTransientResponse()
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(StubResponse.Status(HttpStatusCode.ServiceUnavailable), StubResponse.Text("ok"));
        using var client = new HttpClient(handler);
        var options = Options(clock);
        options.MaxRetries = 0;

        using var response = await SendAsync(HttpRetry.CreatePipeline(options), client).WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken);

        response.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        handler.RequestCount.Should().Be(1);
    }

    [Theory]
    [InlineData(0.0, 750)]
    [InlineData(1.0, 1250)]
    public async Task CreatePipeline_InjectedRandomizer_DrivesTheJitter(double random, int expectedMilliseconds)
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(StubResponse.Status(HttpStatusCode.ServiceUnavailable), StubResponse.Text("ok"));
        using var client = new HttpClient(handler);
        var delays = new List<TimeSpan>();
        var options = Options(clock);
        options.BackoffType = DelayBackoffType.Constant;
        options.UseJitter = true;
        options.Randomizer = () => random;
        options.OnRetry = a => delays.Add(a.Delay);

        var task = SendAsync(HttpRetry.CreatePipeline(options), client);
        using var response = await clock.AdvanceUntilCompletedAsync(task, TimeSpan.FromMilliseconds(50));

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        delays.Should().Equal(TimeSpan.FromMilliseconds(expectedMilliseconds));
    }

    [Fact]
    public async Task CreatePipeline_MaxTotalDelaySpentExactly_StopsRetryingAndReturnsTheLastResponse()
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(StubResponse.Status(HttpStatusCode.ServiceUnavailable));
        using var client = new HttpClient(handler);
        var options = Options(clock);
        options.MaxRetries = 10;
        options.BackoffType = DelayBackoffType.Constant;
        options.MaxTotalDelay = TimeSpan.FromSeconds(2);

        var task = SendAsync(HttpRetry.CreatePipeline(options), client);
        using var response = await clock.AdvanceUntilCompletedAsync(task, TimeSpan.FromMilliseconds(500));

        response.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        handler.RequestCount.Should().Be(3, "two 1 s waits spend the 2 s budget exactly, so no third retry is scheduled");
    }
}
