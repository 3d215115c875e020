using System.Net;
using AsyncPatterns.Retries;
using AsyncPatterns.Tests.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Polly;
using Polly.Timeout;

namespace AsyncPatterns.Tests.Retries;

public sealed class HttpRetryResiliencePipelineBuilderExtensionsTests
{
    private static readonly Uri Url = new("https://api.test/items");
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(250);
    private readonly FakeTimeProvider _time = FakeClock.Create();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private RetryOptions Retry(int maxRetries = 3) => new()
    {
        MaxRetries = maxRetries,
        BaseDelay = TimeSpan.FromSeconds(1),
        UseJitter = false,
        TimeProvider = _time,
    };

    private (ServiceProvider Provider, HttpClient Client) BuildResilienceHandler(
        HttpMessageHandler primary, Action<ResiliencePipelineBuilder<HttpResponseMessage>> configure)
    {
        var services = new ServiceCollection().AddSingleton<TimeProvider>(_time);
        services.AddHttpClient("api").ConfigurePrimaryHttpMessageHandler(() => primary).AddResilienceHandler("attempts", configure);
        var provider = services.BuildServiceProvider();
        return (provider, provider.GetRequiredService<IHttpClientFactory>().CreateClient("api"));
    }

    [Fact]
    public async Task AddHttpRetry_InsideAddResilienceHandler_Retries503AndHonoursRetryAfter()
    {
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(
            StubResponse.Status(HttpStatusCode.ServiceUnavailable).WithRetryAfter(TimeSpan.FromSeconds(7)), StubResponse.Text("ok"));
        var (provider, client) = BuildResilienceHandler(stub, b => b.AddHttpRetry(Retry()));
        await using var _ = provider;
        using var __ = client;

        var call = client.GetAsync(Url, Ct);
        await _time.AdvanceAsync(TimeSpan.FromSeconds(6));
        stub.RequestCount.Should().Be(1, "Retry-After asked for 7 s, not the 1 s backoff");

        using var response = await _time.AdvanceUntilCompletedAsync(call, Step);
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        (stub.Requests[1].ArrivedAt - stub.Requests[0].ArrivedAt).Should().Be(TimeSpan.FromSeconds(7));
    }

    [Fact]
    public async Task AddHttpRetry_ThenAddTimeout_GivesEveryAttemptANewTimeoutThatIsRetried()
    {
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Hang(), StubResponse.Text("ok").WithDelay(TimeSpan.FromSeconds(3)));
        var (provider, client) = BuildResilienceHandler(stub, b => b.AddHttpRetry(Retry()).AddTimeout(TimeSpan.FromSeconds(4)));
        await using var _ = provider;
        using var __ = client;

        var call = client.GetAsync(Url, Ct);
        await _time.AdvanceAsync(TimeSpan.FromSeconds(4));
        await _time.AdvanceAsync(TimeSpan.FromSeconds(1));
        stub.RequestCount.Should().Be(2, "the attempt timed out at 4 s and was retried after the 1 s backoff");

        using var response = await _time.AdvanceUntilCompletedAsync(call, Step);
        response.StatusCode.Should().Be(HttpStatusCode.OK, "the second attempt's 3 s fit in its own 4 s timeout");
    }

    [Fact]
    public async Task AddHttpRetry_InsideAddResilienceHandler_DisposesEveryRetriedResponse()
    {
        var failed = new List<TrackingContent>();
        var stub = new StubHttpMessageHandler(_time).OnRequest(_ => true, (request, _) =>
        {
            var content = new TrackingContent("busy");
            failed.Add(content);
            return Task.FromResult(TrackingContent.Response(request, content, HttpStatusCode.InternalServerError));
        });
        var (provider, client) = BuildResilienceHandler(stub, b => b.AddHttpRetry(Retry(maxRetries: 2)));
        await using var _ = provider;
        using var __ = client;

        using var response = await _time.AdvanceUntilCompletedAsync(client.GetAsync(Url, Ct), Step);

        response.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        failed.Should().HaveCount(3);
        failed.Take(2).Should().OnlyContain(c => c.IsDisposed, "the two retried responses are disposed");
    }

    [Fact]
    public async Task AddHttpRetry_OnAPlainBuilder_RecordsTheAttemptCountAndDoesNotRetryA404()
    {
        var stub = new StubHttpMessageHandler(_time).OnPath("/404", StubResponse.Status(HttpStatusCode.NotFound))
            .OnAnyRequest(StubResponse.Throw(new HttpRequestException("reset")), StubResponse.Text("ok"));
        using var client = new HttpClient(stub);
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>().AddHttpRetry(Retry()).Build();

        var context = ResilienceContextPool.Shared.Get(Ct);
        var call = pipeline.ExecuteAsync(static async (ctx, c) => await c.GetAsync(Url, ctx.CancellationToken), context, client).AsTask();
        using (var response = await _time.AdvanceUntilCompletedAsync(call, Step))
        {
            response.StatusCode.Should().Be(HttpStatusCode.OK);
        }

        AsyncPatterns.Retries.Retry.GetAttemptCount(context).Should().Be(2);
        ResilienceContextPool.Shared.Return(context);

        using var notFound = await pipeline.ExecuteAsync(async ct => await client.GetAsync(new Uri("https://api.test/404"), ct), Ct);
        notFound.StatusCode.Should().Be(HttpStatusCode.NotFound);
        stub.RequestCount.Should().Be(3, "a 404 is not transient");
    }

    [Fact]
    public void AddHttpRetry_InvalidOptions_ThrowAtTheCallNamingTheProperty()
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>();

        builder.Invoking(b => b.AddHttpRetry(new RetryOptions { MaxDelay = TimeSpan.FromDays(2) }))
            .Should().Throw<ArgumentException>().WithParameterName("options")
            .WithMessage("RetryOptions.MaxDelay must be positive and at most one day (RetryOptions.MaxAllowedDelay), or null (was 2.00:00:00).*");
        FluentActions.Invoking(() => HttpRetryResiliencePipelineBuilderExtensions.AddHttpRetry(null!))
            .Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("builder");
    }

    [Fact]
    public async Task AddHttpRetry_NullOptions_UsesTheDefaultsAndLeavesTheCallersCancellationAlone()
    {
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Hang());
        using var client = new HttpClient(stub);
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>().AddHttpRetry().AddTimeout(TimeSpan.FromHours(1)).Build();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var call = pipeline.ExecuteAsync(async ct => await client.GetAsync(Url, ct), cts.Token).AsTask();
        await FakeClock.SettleAsync();
        await cts.CancelAsync();

        var thrown = await call.WaitAsync(FakeClock.HangTimeout, Ct).Awaiting(c => c).Should().ThrowAsync<OperationCanceledException>();
        thrown.Which.Should().NotBeOfType<TimeoutRejectedException>();
        stub.RequestCount.Should().Be(1, "the caller's own cancellation is never retried");
    }
}
