using System.Net;
using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.Tests.RateLimiting;

public sealed partial class RateLimitingHandlerTests
{
    private static readonly Uri s_uri = new("https://api.test/items");
    private readonly FakeTimeProvider _time = FakeClock.Create();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SendAsync_PermitFree_SendsTheRequest()
    {
        using var limiter = new RequestRateLimiter(1, 10, _time);
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Text("ok"));
        using var invoker = new HttpMessageInvoker(new RateLimitingHandler(limiter, stub));

        using var response = await invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, s_uri), Ct);
        (await response.Content.ReadAsStringAsync(Ct)).Should().Be("ok");

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        stub.RequestCount.Should().Be(1);
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(0, "the rate permit is spent; the concurrency permit is back");
    }

    [Fact]
    public async Task SendAsync_MaxConcurrencyOne_HoldsThePermitUntilTheResponseArrives()
    {
        using var limiter = new RequestRateLimiter(new RequestRateLimiterOptions { MaxConcurrency = 1, TimeProvider = _time });
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Text("ok").WithDelay(TimeSpan.FromSeconds(1)));
        using var invoker = new HttpMessageInvoker(new RateLimitingHandler(limiter, stub));

        var first = invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, s_uri), Ct);
        var second = invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, s_uri), Ct);
        await FakeClock.WaitUntilAsync(() => stub.RequestCount == 1, cancellationToken: Ct);
        await FakeClock.SettleAsync();
        stub.RequestCount.Should().Be(1, "the second request waits for the first one's permit");

        await _time.AdvanceUntilCompletedAsync(first, TimeSpan.FromMilliseconds(100));
        await FakeClock.SettleAsync();
        stub.RequestCount.Should().Be(1, "the first response's body is neither read nor disposed yet");
        (await first).Dispose();
        await _time.AdvanceUntilCompletedAsync(second, TimeSpan.FromMilliseconds(100));

        stub.RequestCount.Should().Be(2);
        stub.PeakInFlight.Should().Be(1);
        (await second).Dispose();
    }

    [Fact]
    public async Task SendAsync_QueueFull_ThrowsRateLimitRejectedExceptionWithRetryAfterAndSendsNothing()
    {
        using var limiter = new RequestRateLimiter(new RequestRateLimiterOptions { PermitsPerSecond = 2, QueueLimit = 0, TimeProvider = _time });
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Text("ok"));
        using var invoker = new HttpMessageInvoker(new RateLimitingHandler(limiter, stub));
        (await invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, s_uri), Ct)).Dispose();

        var rejection = await invoker.Awaiting(i => i.SendAsync(new HttpRequestMessage(HttpMethod.Get, s_uri), Ct))
            .Should().ThrowAsync<RateLimitRejectedException>();

        rejection.Which.RetryAfter.Should().Be(TimeSpan.FromMilliseconds(500));
        rejection.Which.Message.Should().Contain("https://api.test/items");
        stub.RequestCount.Should().Be(1);
    }

    [Fact]
    public async Task SendAsync_CancelledWhileWaiting_ThrowsWithTheCallersTokenAndSendsNothing()
    {
        using var limiter = new RequestRateLimiter(1, 1, _time);
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Text("ok"));
        using var invoker = new HttpMessageInvoker(new RateLimitingHandler(limiter, stub));
        (await invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, s_uri), Ct)).Dispose();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var waiting = invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, s_uri), cts.Token);
        waiting.IsCompleted.Should().BeFalse();
        await cts.CancelAsync();

        (await waiting.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>())
            .Which.CancellationToken.Should().Be(cts.Token);
        stub.RequestCount.Should().Be(1);
    }

    [Fact]
    public void Send_Synchronous_TakesAFreePermitAndRejectsWhenNoneIsFree()
    {
        using var limiter = new RequestRateLimiter(1, 1, _time);
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Text("ok"));
        using var invoker = new HttpMessageInvoker(new RateLimitingHandler(limiter, new SyncHandler()));

        using (var response = invoker.Send(new HttpRequestMessage(HttpMethod.Get, s_uri), Ct))
        {
            response.StatusCode.Should().Be(HttpStatusCode.OK);
        }

        invoker.Invoking(i => i.Send(new HttpRequestMessage(HttpMethod.Get, s_uri), Ct))
            .Should().Throw<RateLimitRejectedException>().Which.RetryAfter.Should().Be(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public void Constructor_NullLimiter_Throws()
    {
        FluentActions.Invoking(() => new RateLimitingHandler(null!)).Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("limiter");
    }

    [Fact]
    public async Task SendAsync_AnyRateLimiter_IsAccepted()
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 });
        using var held = limiter.AttemptAcquire(1);
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Text("ok"));
        using var invoker = new HttpMessageInvoker(new RateLimitingHandler(limiter, stub));

        var rejection = await invoker.Awaiting(i => i.SendAsync(new HttpRequestMessage(HttpMethod.Get, s_uri), Ct))
            .Should().ThrowAsync<RateLimitRejectedException>();

        rejection.Which.RetryAfter.Should().BeNull();
    }

    private sealed class SyncHandler : HttpMessageHandler
    {
        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
            new(HttpStatusCode.OK) { RequestMessage = request };

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(Send(request, cancellationToken));
    }

    [Fact]
    public void Constructor_NullLimiter_ThrowsArgumentNullException()
    {
        var withoutInner = () => new RateLimitingHandler(null!);
        withoutInner.Should().Throw<ArgumentNullException>().WithParameterName("limiter");
        using var stub = new StubHttpMessageHandler(_time);
        var withInner = () => new RateLimitingHandler(null!, stub);
        withInner.Should().Throw<ArgumentNullException>().WithParameterName("limiter");
    }

    [Fact]
    public void Send_CancelledToken_ThrowsWithoutSpendingAPermit()
    {
        using var limiter = new RequestRateLimiter(1, 10, _time);
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Text("ok"));
        using var invoker = new HttpMessageInvoker(new RateLimitingHandler(limiter, stub));
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        var send = () => invoker.Send(new HttpRequestMessage(HttpMethod.Get, s_uri), cts.Token);

        send.Should().Throw<OperationCanceledException>();
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(1, "a cancelled request never takes a permit");
        stub.RequestCount.Should().Be(0);
    }
}
