using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Threading.RateLimiting;
using AsyncPatterns.Http;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.Retries;
using Microsoft.Extensions.Time.Testing;
using Polly;
using Polly.Retry;

namespace AsyncPatterns.Tests.Http;

[Collection(nameof(ConcurrentHttpFetcherTests))]
public sealed partial class ConcurrentHttpFetcherTests : IDisposable
{
    private static readonly Uri s_base = new("http://stub.test/");

    private readonly FakeTimeProvider _clock = FakeClock.Create();
    private readonly StubHttpMessageHandler _handler;
    private readonly HttpClient _client;

    public ConcurrentHttpFetcherTests()
    {
        _handler = new StubHttpMessageHandler(_clock);
        _client = new HttpClient(_handler);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _client.Dispose();

    private static Uri Url(string path) => new(s_base, path);

    private static StubResponse Item(int id) => StubResponse.Json($$"""{"id":{{id}},"name":"item-{{id}}","price":1.25}""");

    private ConcurrentHttpFetcher Fetcher(Action<FetchOptions>? configure = null)
    {
        // No timeout unless a test sets one: the clock only moves when the test moves it, and a timeout on a
        // request still being set up on another thread would make the test depend on thread scheduling.
        var options = new FetchOptions { TimeProvider = _clock, PerRequestTimeout = Timeout.InfiniteTimeSpan };
        configure?.Invoke(options);
        return new ConcurrentHttpFetcher(_client, options);
    }

    /// <summary>
    /// Advances the clock by <paramref name="step"/> each time every request that can be in flight
    /// (<paramref name="limit"/>, or fewer near the end of <paramref name="total"/>) has reached the stub, until the task completes.
    /// </summary>
    private async Task<T> DriveAsync<T>(Task<T> task, int total, int limit, TimeSpan step)
    {
        for (var i = 0; i < 1000 && !task.IsCompleted; i++)
        {
            await FakeClock.WaitUntilAsync(
                () => task.IsCompleted || _handler.InFlight == Math.Min(limit, total - (_handler.RequestCount - _handler.InFlight)),
                cancellationToken: Ct);
            if (!task.IsCompleted)
            {
                await _clock.AdvanceAsync(step);
            }
        }

        return await task.WaitAsync(FakeClock.HangTimeout, Ct);
    }

    private static async Task<List<FetchResult<T>>> CollectAsync<T>(IAsyncEnumerable<FetchResult<T>> results)
    {
        var list = new List<FetchResult<T>>();
        await foreach (var result in results)
        {
            list.Add(result);
        }

        return list;
    }

    [Fact]
    public async Task FetchAllAsync_CompletionOrderDiffers_ReturnsResultsInInputOrder()
    {
        _handler.OnPath("/slow", Item(1).WithDelay(TimeSpan.FromSeconds(3)))
            .OnPath("/fast", Item(2).WithDelay(TimeSpan.FromSeconds(1)))
            .OnPath("/medium", Item(3).WithDelay(TimeSpan.FromSeconds(2)));

        var task = Fetcher().FetchAllAsync([Url("slow"), Url("fast"), Url("medium")], HttpTestJson.Default.ServerItem, Ct);
        var results = await DriveAsync(task, 3, 3, TimeSpan.FromSeconds(1));

        results.Select(r => r.Index).Should().Equal(0, 1, 2);
        results.Select(r => r.Value!.Id).Should().Equal(1, 2, 3);
        results.Should().OnlyContain(r => r.IsSuccess && r.StatusCode == HttpStatusCode.OK && r.Attempts == 1);
        results[0].Elapsed.Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds(3));
        results[1].Elapsed.Should().BeLessThan(results[0].Elapsed);
    }

    [Fact]
    public async Task FetchAsync_CompletionOrderDiffers_YieldsInCompletionOrderWithInputIndex()
    {
        _handler.OnPath("/slow", Item(1).WithDelay(TimeSpan.FromSeconds(3)))
            .OnPath("/fast", Item(2).WithDelay(TimeSpan.FromSeconds(1)))
            .OnPath("/medium", Item(3).WithDelay(TimeSpan.FromSeconds(2)));

        var results = new ConcurrentQueue<FetchResult<ServerItem>>();
        var task = Task.Run(async () =>
        {
            await foreach (var result in Fetcher().FetchAsync([Url("slow"), Url("fast"), Url("medium")], HttpTestJson.Default.ServerItem, Ct))
            {
                results.Enqueue(result);
            }
        }, Ct);
        await FakeClock.WaitUntilAsync(() => _handler.InFlight == 3, cancellationToken: Ct);
        await _clock.AdvanceUntilAsync(() => results.Count == 3, TimeSpan.FromMilliseconds(100));

        await task.WaitAsync(FakeClock.HangTimeout, Ct);
        results.Select(r => r.Index).Should().Equal(1, 2, 0);
        results.Select(r => r.Uri!.AbsolutePath).Should().Equal("/fast", "/medium", "/slow");
    }

    [Fact]
    public async Task FetchAllAsync_ManyRequests_InFlightNeverExceedsMaxConcurrency()
    {
        _handler.OnAnyRequest(Item(1).WithDelay(TimeSpan.FromSeconds(1)));
        var uris = Enumerable.Range(0, 20).Select(i => Url($"items/{i}")).ToList();

        var task = Fetcher(o => o.MaxConcurrency = 3).FetchAllAsync(uris, HttpTestJson.Default.ServerItem, Ct);
        await FakeClock.WaitUntilAsync(() => _handler.InFlight == 3, cancellationToken: Ct);
        await FakeClock.SettleAsync();
        _handler.InFlight.Should().Be(3);
        task.IsCompleted.Should().BeFalse();

        var results = await DriveAsync(task, 20, 3, TimeSpan.FromSeconds(1));

        results.Should().HaveCount(20).And.OnlyContain(r => r.IsSuccess);
        _handler.PeakInFlight.Should().Be(3);
        _handler.RequestCount.Should().Be(20);
    }

    [Fact]
    public async Task FetchAllAsync_MaxConcurrencyPerHost_BoundsEachHost()
    {
        var inFlight = new ConcurrentDictionary<string, int>();
        var peaks = new ConcurrentDictionary<string, int>();
        _handler.OnRequest(_ => true, async (request, ct) =>
        {
            var host = request.RequestUri!.Host;
            var now = inFlight.AddOrUpdate(host, 1, (_, n) => n + 1);
            peaks.AddOrUpdate(host, now, (_, p) => Math.Max(p, now));
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), _clock, ct);
                return Item(1).ToResponseMessage(request);
            }
            finally
            {
                inFlight.AddOrUpdate(host, 0, (_, n) => n - 1);
            }
        });
        var uris = Enumerable.Range(0, 12).Select(i => new Uri($"http://{(i % 2 == 0 ? "a" : "b")}.test/items/{i}")).ToList();

        var task = Fetcher(o => { o.MaxConcurrency = 10; o.MaxConcurrencyPerHost = 2; })
            .FetchAllAsync(uris, HttpTestJson.Default.ServerItem, Ct);
        var results = await DriveAsync(task, 12, 4, TimeSpan.FromSeconds(1));

        results.Should().OnlyContain(r => r.IsSuccess);
        peaks["a.test"].Should().Be(2);
        peaks["b.test"].Should().Be(2);
    }

    [Fact]
    public async Task FetchAsync_LazySource_IsPulledOnlyWhenASlotFrees()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _handler.OnRequest(_ => true, async (request, ct) =>
        {
            await gate.Task.WaitAsync(ct);
            return Item(1).ToResponseMessage(request);
        });
        var pulled = 0;
        IEnumerable<Uri> Source()
        {
            for (var i = 0; i < 100; i++)
            {
                Interlocked.Increment(ref pulled);
                yield return Url($"items/{i}");
            }
        }

        var task = Fetcher(o => o.MaxConcurrency = 4).FetchAllAsync(Source(), HttpTestJson.Default.ServerItem, Ct);
        await FakeClock.WaitUntilAsync(() => _handler.InFlight == 4, cancellationToken: Ct);
        await FakeClock.SettleAsync();

        Volatile.Read(ref pulled).Should().Be(4);
        gate.SetResult();
        var results = await task.WaitAsync(FakeClock.HangTimeout, Ct);
        results.Should().HaveCount(100);
        Volatile.Read(ref pulled).Should().Be(100);
    }

    [Fact]
    public async Task FetchAllAsync_EachKindOfFailure_GivesThatKindForThatUriOnly()
    {
        _handler.OnPath("/timeout", StubResponse.Hang())
            .OnPath("/500", StubResponse.Status(HttpStatusCode.InternalServerError))
            .OnPath("/reset", StubResponse.Throw(new HttpRequestException("Connection reset by peer", new IOException("reset"))))
            .OnPath("/invalid-json", StubResponse.Json("{ not json"))
            .OnPath("/wrong-shape", StubResponse.Json("[1, 2, 3]"))
            .OnPath("/chunked-large", StubResponse.ChunkedBody(0) with { Body = LongJsonString(64 * 1024), MediaType = "application/json" })
            .OnPath("/declared-large", StubResponse.Bytes(new byte[64 * 1024]))
            .OnAnyRequest(Item(7));
        Uri[] uris =
        [
            Url("ok/0"), Url("timeout"), Url("500"), Url("reset"), Url("invalid-json"), Url("wrong-shape"),
            Url("chunked-large"), Url("declared-large"), Url("ok/1"),
        ];

        var fetcher = Fetcher(o => { o.PerRequestTimeout = TimeSpan.FromSeconds(5); o.MaxResponseBytes = 16 * 1024; });
        var completed = new ConcurrentQueue<FetchResult<ServerItem>>();
        var task = Task.Run(async () =>
        {
            await foreach (var result in fetcher.FetchAsync(uris, HttpTestJson.Default.ServerItem, Ct))
            {
                completed.Enqueue(result);
            }
        }, Ct);
        await FakeClock.WaitUntilAsync(() => completed.Count == uris.Length - 1, cancellationToken: Ct);
        await _clock.AdvanceAsync(TimeSpan.FromSeconds(4.9));
        task.IsCompleted.Should().BeFalse("the hanging request waits for its timeout");
        await _clock.AdvanceAsync(TimeSpan.FromSeconds(0.1));
        await task.WaitAsync(FakeClock.HangTimeout, Ct);
        var results = completed.OrderBy(r => r.Index).ToList();

        results.Select(r => r.Error?.Kind).Should().Equal(
            [
            null, FetchErrorKind.Timeout, FetchErrorKind.HttpStatus, FetchErrorKind.Network, FetchErrorKind.InvalidContent,
            FetchErrorKind.InvalidContent, FetchErrorKind.TooLarge, FetchErrorKind.TooLarge, null], string.Join("\n", results.Select(r => r.ToString() + " " + r.Error?.Exception)));
        results[0].Value.Should().Be(new ServerItem(7, "item-7", 1.25m));
        results[8].Value.Should().Be(new ServerItem(7, "item-7", 1.25m));
        results[1].Error!.Exception.Should().BeOfType<TimeoutException>();
        results[1].StatusCode.Should().BeNull();
        results[2].StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        results[2].Error!.Message.Should().Contain("/500");
        results[3].Error!.Exception.Should().BeOfType<HttpRequestException>();
        results[4].Error!.Exception.Should().BeAssignableTo<System.Text.Json.JsonException>();
        results[6].Error!.Exception.Should().BeNull();
        results.Where(r => !r.IsSuccess).Should().OnlyContain(r => r.Value == null);
    }

    [Fact]
    public async Task FetchAllAsync_SlowBody_TimesOutWhileReading()
    {
        var content = new TrackingContent("{}", hang: true);
        _handler.OnRequest(_ => true, (request, _) => Task.FromResult(TrackingContent.Response(request, content)));

        var task = Fetcher(o => o.PerRequestTimeout = TimeSpan.FromSeconds(2)).FetchAllAsync([Url("slow-body")], HttpTestJson.Default.ServerItem, Ct);
        await FakeClock.WaitUntilAsync(() => content.ReadStarted, cancellationToken: Ct);
        await FakeClock.SettleAsync();
        task.IsCompleted.Should().BeFalse();
        await _clock.AdvanceAsync(TimeSpan.FromSeconds(2));
        var results = await task.WaitAsync(FakeClock.HangTimeout, Ct);

        results[0].Error!.Kind.Should().Be(FetchErrorKind.Timeout);
        results[0].StatusCode.Should().Be(HttpStatusCode.OK);
        content.IsDisposed.Should().BeTrue();
    }

    [Fact]
    public async Task FetchAllAsync_CallerCancels_ThrowsWithCallersTokenAndDisposesInFlightResponses()
    {
        var contents = new ConcurrentBag<TrackingContent>();
        _handler.OnRequest(r => r.RequestUri!.AbsolutePath.StartsWith("/body", StringComparison.Ordinal), (request, _) =>
        {
            var content = new TrackingContent("{}", hang: true);
            contents.Add(content);
            return Task.FromResult(TrackingContent.Response(request, content));
        });
        _handler.OnAnyRequest(StubResponse.Hang());
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        Uri[] uris = [Url("body/1"), Url("body/2"), Url("headers/1"), Url("headers/2"), Url("later")];

        var task = Fetcher(o => o.MaxConcurrency = 4).FetchAllAsync(uris, HttpTestJson.Default.ServerItem, cts.Token);
        await FakeClock.WaitUntilAsync(() => contents.Count == 2 && contents.All(c => c.ReadStarted) && _handler.InFlight == 2, cancellationToken: Ct);
        await cts.CancelAsync();

        var thrown = await task.Invoking(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>();
        thrown.Which.CancellationToken.Should().Be(cts.Token);
        contents.Should().HaveCount(2).And.OnlyContain(c => c.IsDisposed);
        _handler.InFlight.Should().Be(0);
        _handler.RequestCount.Should().Be(4, "the fifth URI never got a slot");
    }

    [Fact]
    public async Task FetchAsync_BreakEarly_CancelsAndDisposesTheRestBeforeReturning()
    {
        var contents = new ConcurrentBag<TrackingContent>();
        _handler.OnPath("/first", Item(1));
        _handler.OnRequest(_ => true, (request, _) =>
        {
            var content = new TrackingContent("{}", hang: true);
            contents.Add(content);
            return Task.FromResult(TrackingContent.Response(request, content));
        });
        var uris = new[] { Url("first") }.Concat(Enumerable.Range(0, 10).Select(i => Url($"hang/{i}")));

        FetchResult<ServerItem>? first = null;
        await foreach (var result in Fetcher(o => o.MaxConcurrency = 5).FetchAsync(uris, HttpTestJson.Default.ServerItem, Ct))
        {
            first = result;
            await FakeClock.WaitUntilAsync(() => contents.Count >= 4 && contents.All(c => c.ReadStarted), cancellationToken: Ct);
            break;
        }

        first!.Value!.Id.Should().Be(1);
        contents.Should().OnlyContain(c => c.IsDisposed);
        _handler.InFlight.Should().Be(0);
        _handler.RequestCount.Should().BeLessThanOrEqualTo(6);
    }

    [Fact]
    public async Task FetchAllAsync_FailFast_ThrowsFirstFailureCancelsTheRestAndStartsNothingNew()
    {
        _handler.OnPath("/fails", StubResponse.Status(HttpStatusCode.BadGateway).WithDelay(TimeSpan.FromSeconds(1)))
            .OnAnyRequest(StubResponse.Hang());
        var uris = new[] { Url("hang/0"), Url("fails"), Url("hang/1") }.Concat(Enumerable.Range(2, 20).Select(i => Url($"hang/{i}")));

        var task = Fetcher(o => { o.MaxConcurrency = 3; o.FailFast = true; }).FetchAllAsync(uris, HttpTestJson.Default.ServerItem, Ct);
        await FakeClock.WaitUntilAsync(() => _handler.InFlight == 3, cancellationToken: Ct);
        await FakeClock.SettleAsync();
        _handler.RequestCount.Should().Be(3);
        await _clock.AdvanceUntilAsync(() => task.IsCompleted, TimeSpan.FromMilliseconds(100));

        var thrown = await task.Invoking(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<FetchFailedException>();
        thrown.Which.Index.Should().Be(1);
        thrown.Which.StatusCode.Should().Be(HttpStatusCode.BadGateway);
        thrown.Which.Error.Kind.Should().Be(FetchErrorKind.HttpStatus);
        thrown.Which.Message.Should().Contain("/fails");
        _handler.InFlight.Should().Be(0);
        _handler.RequestCount.Should().Be(3);
    }

    [Fact]
    public async Task FetchAllAsync_FailFastWithNetworkError_InnerExceptionIsTheCause()
    {
        var cause = new HttpRequestException("refused");
        _handler.OnAnyRequest(StubResponse.Throw(cause));

        var act = () => Fetcher(o => o.FailFast = true).FetchAllAsync([Url("a")], HttpTestJson.Default.ServerItem, Ct);

        var thrown = await act.Should().ThrowAsync<FetchFailedException>();
        thrown.Which.InnerException.Should().BeSameAs(cause);
        thrown.Which.Error.Kind.Should().Be(FetchErrorKind.Network);
    }

    [Theory]
    [InlineData("items/1")]
    [InlineData("ftp://stub.test/items/1")]
    [InlineData("file:///etc/passwd")]
    public void FetchAsync_InvalidUriInCollection_ThrowsUpFrontNamingTheUri(string uri)
    {
        var uris = new List<Uri> { Url("ok"), new(uri, UriKind.RelativeOrAbsolute) };

        var act = () => Fetcher().FetchAsync(uris, HttpTestJson.Default.ServerItem, Ct);

        act.Should().Throw<ArgumentException>().Which.Message.Should().Contain(uri).And.Contain("index 1");
        _handler.RequestCount.Should().Be(0);
    }

    [Fact]
    public async Task FetchAllAsync_InvalidUriInLazySource_ThrowsWhenPulledNamingTheUri()
    {
        _handler.OnAnyRequest(Item(1));
        static IEnumerable<Uri> Source()
        {
            yield return new Uri("http://stub.test/a");
            yield return new Uri("relative/b", UriKind.Relative);
        }

        var act = () => Fetcher(o => o.MaxConcurrency = 1).FetchAllAsync(Source(), HttpTestJson.Default.ServerItem, Ct);

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("relative/b").And.Contain("index 1");
    }

    [Fact]
    public void FetchAsync_NullArguments_Throw()
    {
        var fetcher = Fetcher();

        fetcher.Invoking(f => f.FetchAsync((IEnumerable<Uri>)null!, HttpTestJson.Default.ServerItem)).Should().Throw<ArgumentNullException>();
        fetcher.Invoking(f => f.FetchAsync([Url("a")], (System.Text.Json.Serialization.Metadata.JsonTypeInfo<ServerItem>)null!)).Should().Throw<ArgumentNullException>();
        fetcher.Invoking(f => f.FetchRawAsync((IAsyncEnumerable<HttpRequestMessage>)null!)).Should().Throw<ArgumentNullException>();
        FluentActions.Invoking(() => new ConcurrentHttpFetcher((HttpClient)null!)).Should().Throw<ArgumentNullException>();
    }

    [Fact]
    public async Task FetchAllAsync_ConcurrencyLimiter_HoldsEachPermitWhileItsAttemptIsSent()
    {
        _handler.OnAnyRequest(Item(1).WithDelay(TimeSpan.FromSeconds(1)));
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 10 });

        var task = Fetcher(o => o.RateLimiter = limiter).FetchAllAsync([Url("a"), Url("b"), Url("c")], HttpTestJson.Default.ServerItem, Ct);
        for (var sent = 1; sent <= 3; sent++)
        {
            await FakeClock.WaitUntilAsync(() => _handler.RequestCount == sent, cancellationToken: Ct);
            await FakeClock.SettleAsync();
            _handler.RequestCount.Should().Be(sent, "the next attempt waits for the permit");

            // Small steps: the stub registers its delay just after the request is counted, possibly after a step.
            await _clock.AdvanceUntilAsync(() => _handler.RequestCount == sent + 1 || task.IsCompleted, TimeSpan.FromMilliseconds(100));
        }

        var results = await task.WaitAsync(FakeClock.HangTimeout, Ct);
        results.Should().OnlyContain(r => r.IsSuccess);
        _handler.PeakInFlight.Should().Be(1);
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(1, "every lease was given back");
    }

    [Fact]
    public async Task FetchAllAsync_RateLimiterRejects_GivesRateLimitedResultWithoutSending()
    {
        _handler.OnAnyRequest(Item(1));
        using var limiter = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = 1, TokensPerPeriod = 1, ReplenishmentPeriod = TimeSpan.FromSeconds(1), AutoReplenishment = false, QueueLimit = 0,
        });

        var results = await Fetcher(o => { o.RateLimiter = limiter; o.MaxConcurrency = 1; })
            .FetchAllAsync([Url("a"), Url("b")], HttpTestJson.Default.ServerItem, Ct);

        results[0].IsSuccess.Should().BeTrue();
        results[1].Error!.Kind.Should().Be(FetchErrorKind.RateLimited);
        results[1].Error!.Message.Should().Contain("rate limiter");
        _handler.RequestCount.Should().Be(1);
    }

    [Fact]
    public async Task FetchAllAsync_RateLimitingHandlerRejects_GivesRateLimitedResultForThatUriOnly()
    {
        // Regression: a rejection by RateLimitingHandler inside the client was reported as a fault, not a result.
        _handler.OnAnyRequest(Item(1));
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 });
        using var held = limiter.AttemptAcquire();
        using var client = new HttpClient(new RateLimitingHandler(limiter) { InnerHandler = _handler });
        var fetcher = new ConcurrentHttpFetcher(client, new FetchOptions { TimeProvider = _clock, PerRequestTimeout = Timeout.InfiniteTimeSpan });

        var results = await fetcher.FetchAllAsync([Url("a")], HttpTestJson.Default.ServerItem, Ct);

        results[0].Error!.Kind.Should().Be(FetchErrorKind.RateLimited);
        results[0].Error!.Exception.Should().BeOfType<RateLimitRejectedException>();
        _handler.RequestCount.Should().Be(0);
    }

    [Fact]
    public async Task FetchAllAsync_RetryPipelineOn429_WaitsRetryAfterCountsAttemptsAndDisposesTheRetriedResponse()
    {
        var first = new TrackingContent("");
        var attempt = 0;
        _handler.OnRequest(_ => true, (request, _) => Task.FromResult(Interlocked.Increment(ref attempt) == 1
            ? WithRetryAfter(TrackingContent.Response(request, first, HttpStatusCode.TooManyRequests))
            : Item(5).ToResponseMessage(request)));
        var pipeline = RetryOn429(_clock);

        var task = Fetcher(o => o.ResiliencePipeline = pipeline).FetchAllAsync([Url("limited")], HttpTestJson.Default.ServerItem, Ct);
        await FakeClock.WaitUntilAsync(() => first.IsDisposed, cancellationToken: Ct);
        await FakeClock.SettleAsync();
        await _clock.AdvanceAsync(TimeSpan.FromMilliseconds(900));
        task.IsCompleted.Should().BeFalse("Retry-After: 1 is waited out");
        _handler.RequestCount.Should().Be(1);
        await _clock.AdvanceUntilAsync(() => task.IsCompleted, TimeSpan.FromMilliseconds(100));
        var results = await task.WaitAsync(FakeClock.HangTimeout, Ct);

        results[0].IsSuccess.Should().BeTrue();
        results[0].Value!.Id.Should().Be(5);
        results[0].Attempts.Should().Be(2);
        first.IsDisposed.Should().BeTrue();
        var arrivals = _handler.Requests.Select(r => r.ArrivedAt).ToList();
        (arrivals[1] - arrivals[0]).Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds(1));

        static HttpResponseMessage WithRetryAfter(HttpResponseMessage response)
        {
            response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(1));
            return response;
        }
    }

    [Fact]
    public async Task FetchAllAsync_RetryOptions_RetriesTransientStatusAfterTheBackoffAndCountsAttempts()
    {
        _handler.OnAnyRequest(StubResponse.Status(HttpStatusCode.ServiceUnavailable), Item(5));
        var retrying = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        var retry = new RetryOptions
        {
            MaxRetries = 2,
            BaseDelay = TimeSpan.FromSeconds(1),
            UseJitter = false,
            TimeProvider = _clock,
            OnRetry = attempt => retrying.TrySetResult(attempt.Delay),
        };

        var task = Fetcher(o => o.Retry = retry).FetchAllAsync([Url("flaky")], HttpTestJson.Default.ServerItem, Ct);
        (await retrying.Task.WaitAsync(FakeClock.HangTimeout, Ct)).Should().Be(TimeSpan.FromSeconds(1));
        await _clock.AdvanceUntilAsync(() => task.IsCompleted, TimeSpan.FromMilliseconds(10));
        var results = await task.WaitAsync(FakeClock.HangTimeout, Ct);

        results[0].IsSuccess.Should().BeTrue();
        results[0].Value!.Id.Should().Be(5);
        results[0].Attempts.Should().Be(2);
        (_handler.Requests[1].ArrivedAt - _handler.Requests[0].ArrivedAt).Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds(1), "the retry waits the base delay");
    }

    [Fact]
    public async Task FetchAllAsync_RetryOptions_NeverRetriesAClientError()
    {
        _handler.OnAnyRequest(StubResponse.Status(HttpStatusCode.NotFound), Item(5));

        var results = await Fetcher(o => o.Retry = new RetryOptions { TimeProvider = _clock })
            .FetchAllAsync([Url("missing")], HttpTestJson.Default.ServerItem, Ct);

        results[0].Error!.Kind.Should().Be(FetchErrorKind.HttpStatus);
        results[0].StatusCode.Should().Be(HttpStatusCode.NotFound);
        results[0].Attempts.Should().Be(1);
    }

    [Fact]
    public void Constructor_RetryAndResiliencePipelineBothSet_ThrowsNamingOptionsAndRetry()
    {
        var options = new FetchOptions { Retry = new RetryOptions(), ResiliencePipeline = ResiliencePipeline<HttpResponseMessage>.Empty };

        var act = () => new ConcurrentHttpFetcher(_client, options);

        act.Should().Throw<ArgumentException>().WithParameterName("options")
            .WithMessage("FetchOptions.Retry must be null when ResiliencePipeline is set (add the retry strategy to the pipeline instead) (was set).*");
    }

    [Fact]
    public async Task FetchAllAsync_RequestRateLimiterTenPerSecond_SendsOneRequestPer100Milliseconds()
    {
        _handler.OnAnyRequest(Item(1));
        using var limiter = new RequestRateLimiter(new RequestRateLimiterOptions { PermitsPerSecond = 10, Burst = 1, TimeProvider = _clock });

        var start = _clock.GetUtcNow();
        var task = Fetcher(o => { o.RateLimiter = limiter; o.MaxConcurrency = 10; })
            .FetchAllAsync(Enumerable.Range(0, 10).Select(i => Url($"items/{i}")), HttpTestJson.Default.ServerItem, Ct);
        for (var sent = 1; ; sent++)
        {
            // The clock moves only once every request has been sent or is queued at the limiter: a request still on
            // its way there (a cold or loaded machine) would read the clock while the test moves it.
            await FakeClock.WaitUntilAsync(
                () => _handler.RequestCount == sent && limiter.GetStatistics()!.CurrentQueuedCount == 10 - sent, cancellationToken: Ct);
            if (sent == 10)
            {
                break;
            }

            // Exactly one request per 100 ms: the next one is held until the clock reaches its slot, not a tick before.
            await _clock.AdvanceAsync(TimeSpan.FromMilliseconds(99));
            _handler.RequestCount.Should().Be(sent, $"at {_clock.GetUtcNow():HH:mm:ss.fff} only {sent} permits exist");
            await _clock.AdvanceAsync(TimeSpan.FromMilliseconds(1));
        }

        var results = await task.WaitAsync(FakeClock.HangTimeout, Ct);

        results.Should().OnlyContain(r => r.IsSuccess);
        _handler.Requests.Select(r => r.ArrivedAt - start).Order()
            .Should().Equal(Enumerable.Range(0, 10).Select(i => TimeSpan.FromMilliseconds(100 * i)));
    }

    [Fact]
    public async Task FetchAllAsync_RetryPipelineExhausted_ReportsLastStatusAndAttempts()
    {
        _handler.OnAnyRequest(StubResponse.TooManyRequests(TimeSpan.FromSeconds(1)));

        var task = Fetcher(o => o.ResiliencePipeline = RetryOn429(_clock)).FetchAllAsync([Url("limited")], HttpTestJson.Default.ServerItem, Ct);
        // No timeout is set, so moving the clock ahead of the retry delays cannot fail a request.
        for (var sent = 1; sent <= 2; sent++)
        {
            await FakeClock.WaitUntilAsync(() => _handler.RequestCount == sent, cancellationToken: Ct);
            await _clock.AdvanceUntilAsync(() => _handler.RequestCount == sent + 1, TimeSpan.FromMilliseconds(100));
        }

        var results = await task.WaitAsync(FakeClock.HangTimeout, Ct);

        results[0].Error!.Kind.Should().Be(FetchErrorKind.HttpStatus);
        results[0].StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        results[0].Attempts.Should().Be(3);
    }

    [Fact]
    public async Task FetchAllAsync_TimedOutAttemptWithRetries_IsRetriedWithAFreshTimeout()
    {
        _handler.OnAnyRequest(StubResponse.Hang(), Item(9));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _clock }
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage> { MaxRetryAttempts = 1, Delay = TimeSpan.Zero })
            .Build();

        var task = Fetcher(o => { o.ResiliencePipeline = pipeline; o.PerRequestTimeout = TimeSpan.FromSeconds(2); })
            .FetchAllAsync([Url("a")], HttpTestJson.Default.ServerItem, Ct);
        await FakeClock.WaitUntilAsync(() => _handler.InFlight == 1, cancellationToken: Ct);
        await FakeClock.SettleAsync();
        await _clock.AdvanceAsync(TimeSpan.FromSeconds(2));
        var results = await task.WaitAsync(FakeClock.HangTimeout, Ct);

        results[0].IsSuccess.Should().BeTrue();
        results[0].Attempts.Should().Be(2);
    }

    [Fact]
    public async Task FetchAllRawAsync_RequestMessages_SendsThemAndReturnsStatusHeadersAndBody()
    {
        _handler.OnRequest(r => r.Method == HttpMethod.Post, request =>
            StubResponse.Text("echo:" + request.Headers.GetValues("X-Tag").Single()).WithHeader("X-Server", "stub"));
        static async IAsyncEnumerable<HttpRequestMessage> Requests()
        {
            for (var i = 0; i < 3; i++)
            {
                await Task.Yield();
                var message = new HttpRequestMessage(HttpMethod.Post, Url($"post/{i}")) { Content = new StringContent("body") };
                message.Headers.Add("X-Tag", $"t{i}");
                yield return message;
            }
        }

        var results = await Fetcher().FetchAllRawAsync(Requests(), Ct);

        results.Select(r => r.Value!.GetBodyAsString()).Should().Equal("echo:t0", "echo:t1", "echo:t2");
        results[0].Value!.StatusCode.Should().Be(HttpStatusCode.OK);
        results[0].Value!.Headers["x-server"].Should().Equal("stub");
        results[0].Value!.ContentType!.MediaType.Should().Be("text/plain");
        _handler.Requests.Should().OnlyContain(r => r.Body == "body");
    }

    [Fact]
    public async Task FetchRawAsync_ChunkedBodyWithinLimit_ReadsEveryByte()
    {
        _handler.OnAnyRequest(StubResponse.ChunkedBody(10_000, 1000));

        var results = await CollectAsync(Fetcher(o => o.MaxResponseBytes = 10_000).FetchRawAsync([Url("a")], Ct));

        results[0].Value!.Body.Length.Should().Be(10_000);
    }

    [Fact]
    public async Task FetchAllRawAsync_Charset_DecodesTheBodyWithIt()
    {
        var latin1 = Encoding.Latin1.GetBytes("café");
        _handler.OnAnyRequest((StubResponse.Bytes(latin1) with { MediaType = null }).WithHeader("Content-Type", "text/plain; charset=iso-8859-1"));

        var results = await Fetcher().FetchAllRawAsync([Url("a")], Ct);

        results[0].Value!.GetBodyAsString().Should().Be("café");
    }

    [Fact]
    public async Task FetchAllAsync_RetriedRequestMessage_SendsCopiesWithTheSameHeadersAndContent()
    {
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _clock }
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = 1,
                Delay = TimeSpan.Zero,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result?.StatusCode == HttpStatusCode.ServiceUnavailable),
            })
            .Build();
        var sent = new ConcurrentQueue<(HttpRequestMessage Message, Version Version, HttpVersionPolicy Policy, string? Option)>();
        var optionKey = new HttpRequestOptionsKey<string>("tag");
        _handler.OnRequest(
            request =>
            {
                sent.Enqueue((request, request.Version, request.VersionPolicy, request.Options.TryGetValue(optionKey, out var tag) ? tag : null));
                return false;
            },
            StubResponse.Status(HttpStatusCode.NotFound));
        _handler.OnAnyRequest(StubResponse.Status(HttpStatusCode.ServiceUnavailable), Item(3));
        var message = new HttpRequestMessage(HttpMethod.Put, Url("put"))
        {
            Content = new StringContent("payload"),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
        message.Headers.Add("X-Tag", "same");
        message.Options.Set(optionKey, "option");
        async IAsyncEnumerable<HttpRequestMessage> One()
        {
            await Task.Yield();
            yield return message;
        }

        var results = await Fetcher(o => o.ResiliencePipeline = pipeline).FetchAllAsync(One(), HttpTestJson.Default.ServerItem, Ct);

        results[0].IsSuccess.Should().BeTrue();
        results[0].Attempts.Should().Be(2);
        _handler.Requests.Should().HaveCount(2)
            .And.OnlyContain(r => r.Method == HttpMethod.Put && r.Headers["X-Tag"].Single() == "same" && r.Body == "payload");
        var attempts = sent.ToArray();
        attempts.Should().HaveCount(2);
        attempts[0].Message.Should().BeSameAs(message, "the first attempt sends the caller's own message");
        attempts[1].Message.Should().NotBeSameAs(message, "a message can be sent only once");
        attempts.Should().OnlyContain(a => a.Version == HttpVersion.Version20 && a.Policy == HttpVersionPolicy.RequestVersionOrLower && a.Option == "option");
    }

    [Fact]
    public async Task FetchAllAsync_FactoryClient_UsesTheNamedClient()
    {
        _handler.OnAnyRequest(Item(4));
        var factory = new SingleClientFactory(_client);

        var results = await new ConcurrentHttpFetcher(factory, "items").FetchAllAsync([Url("a")], HttpTestJson.Default.ServerItem, Ct);

        results[0].Value!.Id.Should().Be(4);
        factory.Names.Should().Equal("items");
    }

    [Fact]
    public async Task FetchAllAsync_EmptySource_ReturnsNoResults()
    {
        var results = await Fetcher().FetchAllAsync([], HttpTestJson.Default.ServerItem, Ct);

        results.Should().BeEmpty();
    }

    [Fact]
    public async Task FetchAsync_RandomDelaysAndFailures_EveryUriGetsExactlyOneResult()
    {
        const int Seed = 4242;
        var random = new Random(Seed);
        var plan = Enumerable.Range(0, 200).Select(_ => (Delay: random.Next(0, 2000), Fail: random.Next(10) == 0)).ToArray();
        _handler.OnRequest(_ => true, request =>
        {
            var i = int.Parse(request.RequestUri!.Segments[^1], System.Globalization.CultureInfo.InvariantCulture);
            var response = plan[i].Fail ? StubResponse.Status(HttpStatusCode.InternalServerError) : Item(i);
            return response.WithDelay(TimeSpan.FromMilliseconds(plan[i].Delay));
        });

        var task = CollectAsync(Fetcher(o => o.MaxConcurrency = 7).FetchAsync(Enumerable.Range(0, 200).Select(i => Url($"items/{i}")), HttpTestJson.Default.ServerItem, Ct));
        var results = await DriveAsync(task, 200, 7, TimeSpan.FromMilliseconds(50));

        results.Select(r => r.Index).Order().Should().Equal(Enumerable.Range(0, 200), $"seed {Seed}");
        results.Should().OnlyContain(r => r.IsSuccess == !plan[r.Index].Fail, $"seed {Seed}");
        _handler.PeakInFlight.Should().BeLessThanOrEqualTo(7, $"seed {Seed}");
    }

    private static byte[] LongJsonString(int length) =>
        Encoding.UTF8.GetBytes("{\"name\":\"" + new string('x', length) + "\"}");

    private static ResiliencePipeline<HttpResponseMessage> RetryOn429(TimeProvider clock) =>
        new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = clock }
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = 2,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result?.StatusCode == HttpStatusCode.TooManyRequests),
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Result?.Headers.RetryAfter?.Delta),
            })
            .Build();

    [Fact]
    public void Constructor_AndRequestOverloads_NullArguments_ThrowNamingTheParameter()
    {
        var fetcher = Fetcher();
        var factory = new SingleClientFactory(_client);

        FluentActions.Invoking(() => new ConcurrentHttpFetcher((IHttpClientFactory)null!, "name"))
            .Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("httpClientFactory");
        FluentActions.Invoking(() => new ConcurrentHttpFetcher(factory, null!))
            .Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("clientName");
        fetcher.Invoking(f => f.FetchAsync((IAsyncEnumerable<HttpRequestMessage>)null!, HttpTestJson.Default.ServerItem))
            .Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("requests");
        fetcher.Invoking(f => f.FetchAsync(AsyncEnumerable.Empty<HttpRequestMessage>(), (System.Text.Json.Serialization.Metadata.JsonTypeInfo<ServerItem>)null!))
            .Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("jsonTypeInfo");
    }

    [Fact]
    public async Task FetchAllAsync_FactoryWithoutOptions_UsesTheDefaults()
    {
        _handler.OnAnyRequest(Item(1));
        var fetcher = new ConcurrentHttpFetcher(new SingleClientFactory(_client), "client");

        var results = await fetcher.FetchAllAsync([Url("a")], HttpTestJson.Default.ServerItem, Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        results.Should().ContainSingle().Which.Value.Should().Be(new ServerItem(1, "item-1", 1.25m));
    }

    [Fact]
    public async Task FetchResult_ToString_ShowsIndexUriAndStatusOrError()
    {
        _handler.OnPath("/missing", StubResponse.Status(HttpStatusCode.NotFound)).OnAnyRequest(Item(1));

        var results = await Fetcher().FetchAllAsync([Url("ok"), Url("missing")], HttpTestJson.Default.ServerItem, Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        results[0].ToString().Should().Be("#0 http://stub.test/ok: 200");
        results[1].ToString().Should().StartWith("#1 http://stub.test/missing: HttpStatus: ");
        results[1].Error!.ToString().Should().Be("HttpStatus: " + results[1].Error!.Message);
    }

    [Fact]
    public async Task FetchRawAsync_DeclaredLengthExactlyAtMaxResponseBytes_IsReadInFull()
    {
        _handler.OnPath("/exact", StubResponse.Bytes(new byte[100])).OnPath("/over", StubResponse.Bytes(new byte[101]));

        var results = await Fetcher(o => o.MaxResponseBytes = 100).FetchAllRawAsync([Url("exact"), Url("over")], Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        results[0].IsSuccess.Should().BeTrue(results[0].ToString());
        results[0].Value!.Body.Length.Should().Be(100);
        results[1].Error!.Kind.Should().Be(FetchErrorKind.TooLarge);
    }

    private sealed class SingleClientFactory(HttpClient client) : IHttpClientFactory
    {
        public List<string> Names { get; } = [];

        public HttpClient CreateClient(string name)
        {
            Names.Add(name);
            return client;
        }
    }
}
