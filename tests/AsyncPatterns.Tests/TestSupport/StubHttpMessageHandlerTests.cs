using System.Net;

namespace AsyncPatterns.Tests.TestSupport;

public sealed class StubHttpMessageHandlerTests
{
    private static readonly Uri s_base = new("https://api.test/");

    [Fact]
    public async Task OnPath_ScriptedTooManyRequests_ReturnsStatusAndRetryAfterAsScripted()
    {
        var handler = new StubHttpMessageHandler().OnPath("/items", StubResponse.TooManyRequests(TimeSpan.FromSeconds(5)));
        using var client = new HttpClient(handler) { BaseAddress = s_base };

        using var response = await client.GetAsync("items", TestContext.Current.CancellationToken);

        response.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        response.Headers.RetryAfter!.Delta.Should().Be(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task OnPath_HttpDateRetryAfter_IsParsedAsDate()
    {
        var date = new DateTimeOffset(2030, 1, 1, 0, 0, 30, TimeSpan.Zero);
        var handler = new StubHttpMessageHandler().OnAnyRequest(StubResponse.Status(HttpStatusCode.ServiceUnavailable).WithRetryAfter(date));
        using var client = new HttpClient(handler);

        using var response = await client.GetAsync(s_base, TestContext.Current.CancellationToken);

        response.Headers.RetryAfter!.Date.Should().Be(date);
    }

    [Fact]
    public async Task OnRequest_SeveralResponses_AnswersInOrderAndRepeatsTheLast()
    {
        var handler = new StubHttpMessageHandler().OnAnyRequest(
            StubResponse.Status(HttpStatusCode.InternalServerError),
            StubResponse.Json("""{"id":1}"""));
        using var client = new HttpClient(handler);
        var ct = TestContext.Current.CancellationToken;

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            using var response = await client.GetAsync(s_base, ct);
            statuses.Add(response.StatusCode);
        }

        statuses.Should().Equal(HttpStatusCode.InternalServerError, HttpStatusCode.OK, HttpStatusCode.OK);
        (await (await client.GetAsync(s_base, ct)).Content.ReadAsStringAsync(ct)).Should().Be("""{"id":1}""");
    }

    [Fact]
    public async Task SendAsync_NoMatchingRoute_Returns404()
    {
        var handler = new StubHttpMessageHandler().OnPath("/a", StubResponse.Text("a"));
        using var client = new HttpClient(handler) { BaseAddress = s_base };

        using var response = await client.GetAsync("b", TestContext.Current.CancellationToken);

        response.StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task SendAsync_FirstMatchingRouteWins()
    {
        var handler = new StubHttpMessageHandler()
            .OnPath("/a", StubResponse.Text("specific"))
            .OnAnyRequest(StubResponse.Text("fallback"));
        using var client = new HttpClient(handler) { BaseAddress = s_base };
        var ct = TestContext.Current.CancellationToken;

        (await client.GetStringAsync("a", ct)).Should().Be("specific");
        (await client.GetStringAsync("b", ct)).Should().Be("fallback");
    }

    [Fact]
    public async Task SendAsync_RecordsRequestsWithArrivalTimeOnTheInjectedClock()
    {
        var time = FakeClock.Create();
        var handler = new StubHttpMessageHandler(time).OnAnyRequest(StubResponse.Text("ok"));
        using var client = new HttpClient(handler);
        var ct = TestContext.Current.CancellationToken;
        var start = time.GetUtcNow();

        using var content = new StringContent("payload");
        (await client.PostAsync(new Uri(s_base, "first"), content, ct)).Dispose();
        time.Advance(TimeSpan.FromSeconds(3));
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(s_base, "second"));
        request.Headers.Add("X-Test", "42");
        (await client.SendAsync(request, ct)).Dispose();

        handler.Requests.Should().HaveCount(2);
        handler.RequestCount.Should().Be(2);
        handler.Requests[0].Should().Match<RecordedRequest>(r =>
            r.Sequence == 0 && r.Method == HttpMethod.Post && r.Body == "payload" && r.ArrivedAt == start);
        handler.Requests[1].Uri!.AbsolutePath.Should().Be("/second");
        handler.Requests[1].Headers["X-Test"].Should().Equal("42");
        handler.Requests[1].ArrivedAt.Should().Be(start + TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task WithDelay_AnswersOnlyWhenTheFakeClockReachesTheDelay()
    {
        var time = FakeClock.Create();
        var handler = new StubHttpMessageHandler(time).OnAnyRequest(StubResponse.Text("late").WithDelay(TimeSpan.FromSeconds(2)));
        using var client = new HttpClient(handler);

        var task = client.GetStringAsync(s_base, TestContext.Current.CancellationToken);
        await time.AdvanceAsync(TimeSpan.FromMilliseconds(1999));
        task.IsCompleted.Should().BeFalse();

        await time.AdvanceAsync(TimeSpan.FromMilliseconds(1));
        (await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)).Should().Be("late");
    }

    [Fact]
    public async Task InFlight_TwentyConcurrentRequests_PeakIsTwentyAndReturnsToZero()
    {
        var time = FakeClock.Create();
        var handler = new StubHttpMessageHandler(time).OnAnyRequest(StubResponse.Text("ok").WithDelay(TimeSpan.FromSeconds(1)));
        using var client = new HttpClient(handler);
        var ct = TestContext.Current.CancellationToken;

        var tasks = Enumerable.Range(0, 20).Select(i => client.GetStringAsync(new Uri(s_base, $"r/{i}"), ct)).ToArray();
        await FakeClock.WaitUntilAsync(() => handler.InFlight == 20, cancellationToken: ct);
        handler.PeakInFlight.Should().Be(20);

        time.Advance(TimeSpan.FromSeconds(1));
        await Task.WhenAll(tasks).WaitAsync(FakeClock.HangTimeout, ct);

        handler.InFlight.Should().Be(0);
        handler.PeakInFlight.Should().Be(20);
        handler.RequestCount.Should().Be(20);
    }

    [Fact]
    public async Task InFlight_SequentialRequests_PeakIsOne()
    {
        var handler = new StubHttpMessageHandler().OnAnyRequest(StubResponse.Text("ok"));
        using var client = new HttpClient(handler);

        for (var i = 0; i < 5; i++)
        {
            await client.GetStringAsync(s_base, TestContext.Current.CancellationToken);
        }

        handler.PeakInFlight.Should().Be(1);
    }

    [Fact]
    public async Task ChunkedBody_HasNoContentLengthAndDeliversEveryByte()
    {
        var handler = new StubHttpMessageHandler().OnAnyRequest(StubResponse.ChunkedBody(100_000, chunkSize: 1000));
        using var client = new HttpClient(handler);
        var ct = TestContext.Current.CancellationToken;

        using var response = await client.GetAsync(s_base, HttpCompletionOption.ResponseHeadersRead, ct);
        response.Content.Headers.ContentLength.Should().BeNull();
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        var total = 0;
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(buffer, ct)) > 0)
        {
            total += read;
        }

        total.Should().Be(100_000);
    }

    [Fact]
    public async Task Throw_SendAsyncThrowsTheScriptedException()
    {
        var handler = new StubHttpMessageHandler().OnAnyRequest(StubResponse.Throw(new HttpRequestException("connection refused")));
        using var client = new HttpClient(handler);

        var act = () => client.GetAsync(s_base, TestContext.Current.CancellationToken);

        await act.Should().ThrowAsync<HttpRequestException>().WithMessage("connection refused");
        handler.InFlight.Should().Be(0);
    }

    [Fact]
    public async Task Hang_CancelledRequest_ThrowsOperationCanceledAndLeavesFlight()
    {
        var handler = new StubHttpMessageHandler(FakeClock.Create()).OnAnyRequest(StubResponse.Hang());
        using var client = new HttpClient(handler);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);

        var task = client.GetAsync(s_base, cts.Token);
        await FakeClock.WaitUntilAsync(() => handler.InFlight == 1, cancellationToken: TestContext.Current.CancellationToken);
        await cts.CancelAsync();

        await FluentActions.Awaiting(() => task).Should().ThrowAsync<OperationCanceledException>();
        handler.InFlight.Should().Be(0);
    }

    [Fact]
    public async Task OnRequest_Responder_ComputesTheResponseFromTheRequest()
    {
        var handler = new StubHttpMessageHandler().OnRequest(_ => true, request => StubResponse.Text(request.RequestUri!.Query));
        using var client = new HttpClient(handler);

        (await client.GetStringAsync(new Uri(s_base, "?page=3"), TestContext.Current.CancellationToken)).Should().Be("?page=3");
    }

    [Fact]
    public void OnRequest_NoResponses_ThrowsNamingTheParameter()
    {
        var act = () => new StubHttpMessageHandler().OnAnyRequest();

        act.Should().Throw<ArgumentException>().WithParameterName("responses");
    }
}
