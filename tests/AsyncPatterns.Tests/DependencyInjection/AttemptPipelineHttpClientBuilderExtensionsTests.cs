using System.Net;
using System.Threading.RateLimiting;
using AsyncPatterns.Http;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.Retries;
using AsyncPatterns.Tests.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.Tests.DependencyInjection;

public sealed class AttemptPipelineHttpClientBuilderExtensionsTests
{
    private static readonly Uri Url = new("https://api.test/items?page=17");
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

    private (ServiceProvider Provider, HttpClient Client) Build(HttpMessageHandler primary, Action<AttemptPipelineOptions> configure)
    {
        var services = new ServiceCollection();
        services.AddHttpClient("api").ConfigurePrimaryHttpMessageHandler(() => primary).AddAttemptPipeline(o =>
        {
            o.Retry = Retry();
            o.TimeProvider = _time;
            configure(o);
        });
        var provider = services.BuildServiceProvider();
        provider.GetRequiredService<IStartupValidator>().Validate();
        return (provider, provider.GetRequiredService<IHttpClientFactory>().CreateClient("api"));
    }

    [Fact]
    public async Task AddAttemptPipeline_PlainGetAsyncOn503Then200_IsRetriedByTheClient()
    {
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(
            StubResponse.Status(HttpStatusCode.ServiceUnavailable), StubResponse.Status(HttpStatusCode.ServiceUnavailable), StubResponse.Text("ok"));
        var (provider, client) = Build(stub, _ => { });
        await using var _ = provider;
        using var __ = client;

        var call = client.GetAsync(Url, Ct);
        await FakeClock.SettleAsync();
        call.IsCompleted.Should().BeFalse("the first retry waits 1 s on the fake clock");

        using var response = await _time.AdvanceUntilCompletedAsync(call, Step);

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        stub.RequestCount.Should().Be(3);
        (stub.Requests[2].ArrivedAt - stub.Requests[0].ArrivedAt).Should().Be(TimeSpan.FromSeconds(3), "1 s then 2 s of backoff");
    }

    [Fact]
    public async Task AddAttemptPipeline_RetryNull_SendsOneAttempt()
    {
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Status(HttpStatusCode.ServiceUnavailable), StubResponse.Text("ok"));
        var (provider, client) = Build(stub, o => o.Retry = null);
        await using var _ = provider;
        using var __ = client;

        using var response = await client.GetAsync(Url, Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        response.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        stub.RequestCount.Should().Be(1);
    }

    [Fact]
    public async Task AddAttemptPipeline_RetryAfter99999999Seconds_ReturnsThatResponseAtOnceWithoutWaiting()
    {
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(
            StubResponse.Status(HttpStatusCode.ServiceUnavailable).WithHeader("Retry-After", "99999999"), StubResponse.Text("ok"));
        var (provider, client) = Build(stub, _ => { });
        await using var _ = provider;
        using var __ = client;

        using var response = await client.GetAsync(Url, Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        response.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable, "a Retry-After beyond MaxAllowedDelay ends retrying with that response");
        stub.RequestCount.Should().Be(1);
    }

    [Fact]
    public async Task AddAttemptPipeline_RetryAfterHttpDate_WaitsUntilThatDateOnTheRetryClock()
    {
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(
            StubResponse.Status(HttpStatusCode.TooManyRequests).WithRetryAfter(_time.GetUtcNow() + TimeSpan.FromSeconds(10)), StubResponse.Text("ok"));
        var (provider, client) = Build(stub, _ => { });
        await using var _ = provider;
        using var __ = client;

        var call = client.GetAsync(Url, Ct);
        await _time.AdvanceAsync(TimeSpan.FromSeconds(9));
        stub.RequestCount.Should().Be(1, "the server's date is 10 s away, longer than the 1 s backoff");

        using var response = await _time.AdvanceUntilCompletedAsync(call, Step);
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        (stub.Requests[1].ArrivedAt - stub.Requests[0].ArrivedAt).Should().Be(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task AddAttemptPipeline_AttemptThatHangs_TimesOutAndTheNextAttemptGetsANewTimeout()
    {
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Hang(), StubResponse.Text("ok").WithDelay(TimeSpan.FromSeconds(4)));
        var (provider, client) = Build(stub, o => o.AttemptTimeout = TimeSpan.FromSeconds(5));
        await using var _ = provider;
        using var __ = client;

        var call = client.GetAsync(Url, Ct);
        await _time.AdvanceAsync(TimeSpan.FromMilliseconds(4999));
        stub.RequestCount.Should().Be(1);
        await _time.AdvanceAsync(TimeSpan.FromMilliseconds(1));
        await _time.AdvanceAsync(TimeSpan.FromSeconds(1));
        stub.RequestCount.Should().Be(2, "the timed-out attempt is retried after the 1 s backoff");

        // The second attempt needs 4 s: within its own 5 s, though 10 s have passed since the call began.
        using var response = await _time.AdvanceUntilCompletedAsync(call, Step);
        response.StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task AddAttemptPipeline_EveryAttemptTimesOut_ThrowsTimeoutExceptionNamingTheRequest()
    {
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Hang());
        var (provider, client) = Build(stub, o => { o.AttemptTimeout = TimeSpan.FromSeconds(2); o.Retry = Retry(maxRetries: 1); });
        await using var _ = provider;
        using var __ = client;

        var call = client.GetAsync(new Uri("https://user:secret@api.test/items"), Ct);
        await _time.AdvanceUntilAsync(() => call.IsCompleted, Step);

        var thrown = await call.Awaiting(c => c).Should().ThrowAsync<TimeoutException>();
        thrown.Which.Message.Should().Contain("GET https://").And.Contain("api.test/items").And.Contain("00:00:02").And.NotContain("secret");
        stub.RequestCount.Should().Be(2);
    }

    [Fact]
    public async Task AddAttemptPipeline_FailedAttempts_EachGiveTheirPermitBackAndTheNextTakesANewOne()
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 });
        var failed = new List<TrackingContent>();
        var stub = new StubHttpMessageHandler(_time).OnRequest(_ => true, (request, _) =>
        {
            if (failed.Count == 3)
            {
                return Task.FromResult(TrackingContent.Response(request, new TrackingContent("ok")));
            }

            var content = new TrackingContent("busy");
            failed.Add(content);
            return Task.FromResult(TrackingContent.Response(request, content, HttpStatusCode.ServiceUnavailable));
        });
        var (provider, client) = Build(stub, o => o.RateLimiter = limiter);
        await using var _ = provider;
        using var __ = client;

        using var response = await _time.AdvanceUntilCompletedAsync(client.GetAsync(Url, Ct), Step);

        response.StatusCode.Should().Be(HttpStatusCode.OK, "with one permit and no queue, a permit kept by a failed attempt would reject the next");
        stub.RequestCount.Should().Be(4);
        failed.Should().HaveCount(3).And.OnlyContain(c => c.IsDisposed, "every retried response is disposed");
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(1, "the buffered body gave the last permit back");
    }

    [Fact]
    public async Task AddAttemptPipeline_WaitForAPermit_IsNotCountedAgainstTheAttemptTimeout()
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Text("ok"));
        var (provider, client) = Build(stub, o => { o.RateLimiter = limiter; o.AttemptTimeout = TimeSpan.FromSeconds(5); });
        await using var _ = provider;
        using var __ = client;
        var held = limiter.AttemptAcquire(1);

        var call = client.GetAsync(Url, Ct);
        await _time.AdvanceAsync(TimeSpan.FromSeconds(60));
        call.IsCompleted.Should().BeFalse("the call waits for its permit, not on its attempt timeout");
        stub.RequestCount.Should().Be(0);

        held.Dispose();
        using var response = await call.WaitAsync(FakeClock.HangTimeout, Ct);
        response.StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task AddAttemptPipeline_LimiterRejects_ThrowsRateLimitRejectedWithoutSendingOrRetrying()
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 });
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Text("ok"));
        var (provider, client) = Build(stub, o => o.RateLimiter = limiter);
        await using var _ = provider;
        using var __ = client;
        using var held = limiter.AttemptAcquire(1);

        var call = client.GetAsync(Url, Ct);
        await FakeClock.SettleAsync();

        await call.Awaiting(c => c).Should().ThrowAsync<RateLimitRejectedException>();
        stub.RequestCount.Should().Be(0);
    }

    [Fact]
    public async Task AddAttemptPipeline_CancelledWhileWaitingForAPermit_ThrowsWithTheCallersToken()
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Text("ok"));
        var (provider, client) = Build(stub, o => o.RateLimiter = limiter);
        await using var _ = provider;
        using var __ = client;
        using var held = limiter.AttemptAcquire(1);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var call = client.GetAsync(Url, cts.Token);
        await FakeClock.SettleAsync();
        call.IsCompleted.Should().BeFalse();
        await cts.CancelAsync();

        var thrown = await call.WaitAsync(FakeClock.HangTimeout, Ct).Awaiting(c => c).Should().ThrowAsync<OperationCanceledException>();
        thrown.Which.CancellationToken.Should().Be(cts.Token);
        stub.RequestCount.Should().Be(0);
        limiter.GetStatistics()!.CurrentQueuedCount.Should().Be(0);
    }

    [Fact]
    public async Task AddAttemptPipeline_CancelledDuringBackoff_ThrowsAtOnceAndSendsNoMoreAttempts()
    {
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Status(HttpStatusCode.ServiceUnavailable));
        var (provider, client) = Build(stub, _ => { });
        await using var _ = provider;
        using var __ = client;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var call = client.GetAsync(Url, cts.Token);
        await FakeClock.SettleAsync();
        stub.RequestCount.Should().Be(1);
        await cts.CancelAsync();

        var thrown = await call.WaitAsync(FakeClock.HangTimeout, Ct).Awaiting(c => c).Should().ThrowAsync<OperationCanceledException>();
        thrown.Which.CancellationToken.Should().Be(cts.Token);
        await _time.AdvanceAsync(TimeSpan.FromMinutes(1));
        stub.RequestCount.Should().Be(1);
    }

    [Fact]
    public async Task AddAttemptPipeline_OnRetryThrows_CallerGetsItsExceptionAndTheResponseIsDisposed()
    {
        var failed = new TrackingContent("busy");
        var stub = new StubHttpMessageHandler(_time).OnRequest(
            _ => true, (request, _) => Task.FromResult(TrackingContent.Response(request, failed, HttpStatusCode.ServiceUnavailable)));
        var (provider, client) = Build(stub, o =>
        {
            o.Retry = Retry();
            o.Retry.OnRetry = _ => throw new InvalidOperationException("hook failed");
        });
        await using var _ = provider;
        using var __ = client;

        var call = client.GetAsync(Url, Ct);

        await call.WaitAsync(FakeClock.HangTimeout, Ct).Awaiting(c => c).Should().ThrowAsync<InvalidOperationException>().WithMessage("hook failed");
        stub.RequestCount.Should().Be(1, "the retry the hook announced does not happen");
        failed.IsDisposed.Should().BeTrue();
    }

    [Fact]
    public async Task AddAttemptPipeline_SynchronousSend_RetriesToo()
    {
        var stub = new SyncStub();
        var (provider, client) = Build(stub, o => o.Retry = new RetryOptions { MaxRetries = 2, BaseDelay = TimeSpan.Zero, UseJitter = false });
        await using var _ = provider;
        using var __ = client;

        using var response = client.Send(new HttpRequestMessage(HttpMethod.Get, Url), Ct);

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        stub.Calls.Should().Be(2);
    }

    [Fact]
    public async Task AddAttemptPipeline_InvalidOptions_FailValidationOnStartNamingTheClient()
    {
        var services = new ServiceCollection();
        services.AddHttpClient("github").AddAttemptPipeline(o =>
        {
            o.AttemptTimeout = TimeSpan.FromDays(50);
            o.Retry = new RetryOptions { MaxRetries = -1 };
            o.RateLimiterName = "gihtub";
        });
        services.AddHttpClient("both").AddAttemptPipeline(o => { o.RateLimiter = new ConcurrencyLimiter(new() { PermitLimit = 1 }); o.RateLimiterName = "x"; });
        services.AddHttpClient("zero").AddAttemptPipeline(o => o.AttemptTimeout = TimeSpan.Zero);
        await using var provider = services.BuildServiceProvider();

        var thrown = provider.Invoking(p => p.GetRequiredService<IStartupValidator>().Validate()).Should().Throw<AggregateException>().Which;

        thrown.InnerExceptions.Should().HaveCount(3).And.AllBeOfType<OptionsValidationException>();
        var messages = string.Join("\n", thrown.InnerExceptions.Cast<OptionsValidationException>().SelectMany(e => e.Failures));
        messages.Split('\n').Should().BeEquivalentTo(
            "AttemptPipelineOptions 'github': AttemptPipelineOptions.AttemptTimeout must be positive and at most about 49.7 days (the longest timer), or Timeout.InfiniteTimeSpan (was 50.00:00:00).",
            "AttemptPipelineOptions 'github': AttemptPipelineOptions.Retry.MaxRetries must be zero or more (was -1).",
            "AttemptPipelineOptions 'github': AttemptPipelineOptions.RateLimiterName must be the name of a registered keyed RateLimiter (register it with services.AddRequestRateLimiter(\"gihtub\", ...) or fix the name) (was 'gihtub').",
            "AttemptPipelineOptions 'both': AttemptPipelineOptions.RateLimiterName must be null when RateLimiter is set (set one or the other) (was 'x').",
            "AttemptPipelineOptions 'zero': AttemptPipelineOptions.AttemptTimeout must be positive and at most about 49.7 days (the longest timer), or Timeout.InfiniteTimeSpan (was 00:00:00).");
    }

    [Fact]
    public async Task AddAttemptPipeline_RegisteredLimiterName_PassesValidationAndLimitsEveryAttempt()
    {
        var stub = new StubHttpMessageHandler(_time).OnAnyRequest(StubResponse.Status(HttpStatusCode.BadGateway), StubResponse.Text("ok"));
        var services = new ServiceCollection();
        services.AddRequestRateLimiter("github", o => { o.MaxConcurrency = 1; o.TimeProvider = _time; });
        services.AddHttpClient("api").ConfigurePrimaryHttpMessageHandler(() => stub)
            .AddAttemptPipeline(o => { o.Retry = Retry(); o.RateLimiterName = "github"; o.TimeProvider = _time; o.AttemptTimeout = Timeout.InfiniteTimeSpan; });
        await using var provider = services.BuildServiceProvider();
        provider.GetRequiredService<IStartupValidator>().Validate();
        using var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("api");

        using var response = await _time.AdvanceUntilCompletedAsync(client.GetAsync(Url, Ct), Step);

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        stub.RequestCount.Should().Be(2);
        provider.GetRequiredKeyedService<RequestRateLimiter>("github").GetStatistics()!.CurrentAvailablePermits.Should().Be(1);
    }

    [Fact]
    public void AddAttemptPipeline_NullArguments_ThrowNamingTheParameter()
    {
        var builder = new ServiceCollection().AddHttpClient("api");

        FluentActions.Invoking(() => AttemptPipelineHttpClientBuilderExtensions.AddAttemptPipeline(null!))
            .Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("builder");
        builder.Invoking(b => b.AddAttemptPipeline((Action<AttemptPipelineOptions>)null!)).Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("configure");
        builder.Invoking(b => b.AddAttemptPipeline((IConfigurationSection)null!)).Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("configuration");
    }

    [Fact]
    public async Task AddAttemptPipeline_ConfigurationSection_BindsTimeoutLimiterNameAndNestedRetry()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection([
            new("Http:GitHub:AttemptTimeout", "00:00:07"),
            new("Http:GitHub:RateLimiterName", "github"),
            new("Http:GitHub:Retry:MaxRetries", "5"),
            new("Http:GitHub:Retry:BaseDelay", "00:00:00.250"),
            new("Http:GitHub:Retry:UseJitter", "false"),
        ]);
        builder.Services.AddRequestRateLimiter("github", o => o.MaxConcurrency = 2);
        builder.Services.AddHttpClient("github").AddAttemptPipeline(builder.Configuration.GetSection("Http:GitHub"));
        using var host = builder.Build();
        await host.StartAsync(Ct);

        var options = host.Services.GetRequiredService<IOptionsMonitor<AttemptPipelineOptions>>().Get("github");

        options.AttemptTimeout.Should().Be(TimeSpan.FromSeconds(7));
        options.RateLimiterName.Should().Be("github");
        options.Retry!.MaxRetries.Should().Be(5);
        options.Retry.BaseDelay.Should().Be(TimeSpan.FromMilliseconds(250));
        options.Retry.UseJitter.Should().BeFalse();
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task AddAttemptPipeline_ConfigurationSectionBadValues_HostStartFailsNamingTheClientAndEachProperty()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection([new("Http:GitHub:AttemptTimeout", "00:00:00"), new("Http:GitHub:Retry:MaxRetries", "-1")]);
        builder.Services.AddHttpClient("github").AddAttemptPipeline(builder.Configuration.GetSection("Http:GitHub"));
        using var host = builder.Build();

        var act = () => host.StartAsync(Ct);

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Failures.Should().Equal(
            "AttemptPipelineOptions 'github': AttemptPipelineOptions.AttemptTimeout must be positive and at most about 49.7 days (the longest timer), or Timeout.InfiniteTimeSpan (was 00:00:00).",
            "AttemptPipelineOptions 'github': AttemptPipelineOptions.Retry.MaxRetries must be zero or more (was -1).");
    }

    [Fact]
    public async Task AddAttemptPipeline_NoArguments_UsesTheDefaults()
    {
        var services = new ServiceCollection();
        services.AddHttpClient("api").AddAttemptPipeline();
        await using var provider = services.BuildServiceProvider();
        provider.GetRequiredService<IStartupValidator>().Validate();

        var options = provider.GetRequiredService<IOptionsMonitor<AttemptPipelineOptions>>().Get("api");

        options.Retry.Should().NotBeNull();
        options.Retry!.MaxRetries.Should().Be(3);
        options.AttemptTimeout.Should().Be(TimeSpan.FromSeconds(30));
        options.RateLimiter.Should().BeNull();
        options.RateLimiterName.Should().BeNull();
        options.TimeProvider.Should().BeNull();
    }

    /// <summary>Answers the synchronous path: 503 first, then 200.</summary>
    private sealed class SyncStub : HttpMessageHandler
    {
        public int Calls { get; private set; }

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
            new(++Calls == 1 ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.OK) { RequestMessage = request };

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("the synchronous path was expected");
    }
}
