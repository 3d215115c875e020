using System.Net;
using AsyncPatterns.Retries;
using Polly;

namespace AsyncPatterns.Tests.Retries;

/// <summary>Retry-After values at and beyond the limits, and callbacks that throw while judging a response.</summary>
public sealed partial class HttpRetryTests
{
    public static TheoryData<string> HugeRetryAfters => new()
    {
        "99999999",
        "2147483647",
        "86401",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    };

    [Theory]
    [MemberData(nameof(HugeRetryAfters))]
    public async Task CreatePipeline_RetryAfterBeyondMaxAllowedDelay_EndsRetryingAndReturnsTheResponse(string retryAfter)
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(
            StubResponse.Text("busy", HttpStatusCode.ServiceUnavailable).WithHeader("Retry-After", retryAfter), StubResponse.Text("ok"));
        using var client = new HttpClient(handler);

        // The defaults: no MaxDelay, no MaxTotalDelay.
        var task = SendAsync(HttpRetry.CreatePipeline(new RetryOptions { TimeProvider = clock }), client);
        await FakeClock.SettleAsync();

        task.IsCompleted.Should().BeTrue("a Retry-After longer than the longest allowed delay is not waited for");
        using var response = await task;
        response.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        (await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).Should().Be("busy", "the last response is the caller's, undisposed");
        handler.RequestCount.Should().Be(1);
    }

    [Fact]
    public async Task CreatePipeline_RetryAfterOfExactlyMaxAllowedDelay_IsWaited()
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(
            StubResponse.TooManyRequests(RetryOptions.MaxAllowedDelay), StubResponse.Text("ok"));
        using var client = new HttpClient(handler);

        var task = SendAsync(HttpRetry.CreatePipeline(new RetryOptions { TimeProvider = clock }), client);
        await clock.AdvanceAsync(RetryOptions.MaxAllowedDelay - TimeSpan.FromMilliseconds(1));
        handler.RequestCount.Should().Be(1);
        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(1));

        using var response = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken);
        response.StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CreatePipeline_RetryAfterBeyondMaxDelay_EndsRetryingWithOrWithoutABudget(bool withBudget)
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(
            StubResponse.TooManyRequests(TimeSpan.FromSeconds(3600)), StubResponse.Text("ok"));
        using var client = new HttpClient(handler);
        var options = Options(clock);
        options.MaxDelay = TimeSpan.FromMilliseconds(50);
        options.MaxTotalDelay = withBudget ? TimeSpan.FromSeconds(10) : null;

        var task = SendAsync(HttpRetry.CreatePipeline(options), client);
        await FakeClock.SettleAsync();

        task.IsCompleted.Should().BeTrue("retrying before the server's Retry-After is not a retry the server accepts");
        using var response = await task;
        response.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        handler.RequestCount.Should().Be(1);
    }

    [Fact]
    public async Task CreatePipeline_RetryAfterWithinMaxDelay_IsWaitedAndCountsAgainstTheBudget()
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(
            StubResponse.TooManyRequests(TimeSpan.FromSeconds(3)),
            StubResponse.TooManyRequests(TimeSpan.FromSeconds(3)),
            StubResponse.Text("ok"));
        using var client = new HttpClient(handler);
        var options = Options(clock);
        options.MaxDelay = TimeSpan.FromSeconds(3);
        options.MaxTotalDelay = TimeSpan.FromSeconds(5);

        var task = SendAsync(HttpRetry.CreatePipeline(options), client);
        using var response = await clock.AdvanceUntilCompletedAsync(task, TimeSpan.FromMilliseconds(100));

        response.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        handler.RequestCount.Should().Be(2, "3 s were waited, and 3 s more do not fit the 2 s that remain");
        (handler.Requests[1].ArrivedAt - handler.Requests[0].ArrivedAt).Should().Be(TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task CreatePipeline_BudgetCountsTheBackoffAfterTheMaxDelayCap()
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(StubResponse.Status(HttpStatusCode.ServiceUnavailable));
        using var client = new HttpClient(handler);
        var options = Options(clock);
        options.MaxRetries = 10;
        options.MaxDelay = TimeSpan.FromSeconds(1);
        options.MaxTotalDelay = TimeSpan.FromSeconds(3);

        var task = SendAsync(HttpRetry.CreatePipeline(options), client);
        using var response = await clock.AdvanceUntilCompletedAsync(task, TimeSpan.FromMilliseconds(500));

        handler.RequestCount.Should().Be(4, "three capped 1 s waits spend the 3 s budget (uncapped they would be 1 + 2 s)");
    }

    [Fact]
    public async Task CreatePipeline_ShouldRetryThrows_DisposesTheResponseItJudgedAndThrowsTheCallbacksException()
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(StubResponse.Text("busy", HttpStatusCode.ServiceUnavailable));
        using var client = new HttpClient(handler);
        var judged = new List<HttpResponseMessage>();
        var bug = new InvalidOperationException("predicate bug");
        var options = Options(clock);
        options.ShouldRetry = outcome =>
        {
            judged.Add((HttpResponseMessage)outcome.Result!);
            throw bug;
        };

        var act = () => SendAsync(HttpRetry.CreatePipeline(options), client);

        (await act.Should().ThrowAsync<InvalidOperationException>()).Which.Should().BeSameAs(bug);
        var read = () => judged.Should().ContainSingle().Which.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        await read.Should().ThrowAsync<ObjectDisposedException>("nobody else can dispose the response the predicate was judging");
    }

    [Fact]
    public async Task CreatePipeline_OnRetryThrows_DisposesTheResponseAndSendsNoMore()
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(StubResponse.Text("busy", HttpStatusCode.ServiceUnavailable));
        using var client = new HttpClient(handler);
        var seen = new List<HttpResponseMessage>();
        var bug = new InvalidOperationException("callback bug");
        var options = Options(clock);
        options.OnRetry = attempt =>
        {
            seen.Add((HttpResponseMessage)attempt.Result!);
            throw bug;
        };

        var task = SendAsync(HttpRetry.CreatePipeline(options), client);
        await clock.AdvanceUntilAsync(() => task.IsCompleted, TimeSpan.FromSeconds(1), maxSteps: 20);

        (await task.Awaiting(t => t).Should().ThrowAsync<InvalidOperationException>()).Which.Should().BeSameAs(bug);
        handler.RequestCount.Should().Be(1);
        var read = () => seen.Should().ContainSingle().Which.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        await read.Should().ThrowAsync<ObjectDisposedException>();
    }

    [Fact]
    public async Task CreatePipeline_ShouldRetryThrowsOnAnException_ThrowsAggregateHoldingBoth()
    {
        var clock = FakeClock.Create();
        var failure = new HttpRequestException("connection refused");
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(StubResponse.Throw(failure));
        using var client = new HttpClient(handler);
        var bug = new InvalidOperationException("predicate bug");
        var options = Options(clock);
        options.ShouldRetry = _ => throw bug;

        var act = () => SendAsync(HttpRetry.CreatePipeline(options), client);

        var ex = (await act.Should().ThrowAsync<AggregateException>()).Which;
        ex.InnerExceptions.Should().HaveCount(2);
        ex.InnerExceptions[0].Should().BeSameAs(bug);
        ex.InnerExceptions[1].Should().BeOfType<HttpRequestException>().Which.Message.Should().Be("connection refused");
    }

    [Fact]
    public async Task CreatePipeline_AttemptCount_CountsOnlyTheAttemptsThatStarted()
    {
        var clock = FakeClock.Create();
        using var handler = new StubHttpMessageHandler(clock).OnAnyRequest(StubResponse.Status(HttpStatusCode.ServiceUnavailable));
        using var client = new HttpClient(handler);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var context = ResilienceContextPool.Shared.Get(cts.Token);
        try
        {
            var task = HttpRetry.CreatePipeline(Options(clock))
                .ExecuteAsync(static async (ctx, c) => await c.GetAsync(Url, ctx.CancellationToken), context, client).AsTask();
            await FakeClock.SettleAsync();
            handler.RequestCount.Should().Be(1);

            await cts.CancelAsync();
            await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
                .Awaiting(t => t).Should().ThrowAsync<OperationCanceledException>();
            Retry.GetAttemptCount(context).Should().Be(1, "the retry the cancellation cut short never started");
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }
}
