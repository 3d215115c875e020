using System.Collections;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.RateLimiting;
using AsyncPatterns.Http;
using AsyncPatterns.IntegrationTests.TestSupport;
using Polly;
using Polly.Retry;

namespace AsyncPatterns.IntegrationTests.Http;

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ServerItem))]
internal sealed partial class IntegrationJson : JsonSerializerContext;

/// <summary>ConcurrentHttpFetcher against a real Kestrel server on 127.0.0.1, counted server-side.</summary>
public sealed class ConcurrentHttpFetcherIntegrationTests(LoopbackServerFixture fixture) : IClassFixture<LoopbackServerFixture>, IDisposable
{
    private readonly LoopbackServer _server = fixture.Server;
    private readonly HttpClient _client = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _client.Dispose();

    private ConcurrentHttpFetcher Fetcher(Action<FetchOptions>? configure = null)
    {
        var options = new FetchOptions();
        configure?.Invoke(options);
        return new ConcurrentHttpFetcher(_client, options);
    }

    private async Task WaitForServerIdleAsync() => await FakeClock.WaitUntilAsync(() => _server.InFlight == 0, cancellationToken: Ct);

    [Fact]
    public async Task FetchAllAsync_MaxConcurrency_ServerNeverSeesMoreInFlight()
    {
        await WaitForServerIdleAsync();
        _server.ResetCounters();
        var uris = Enumerable.Range(0, 120).Select(i => _server.Url($"items/{i % 50 + 1}?delayMs=10")).ToList();

        var results = await Fetcher(o => o.MaxConcurrency = 6).FetchAllAsync(uris, IntegrationJson.Default.ServerItem, Ct);

        results.Should().OnlyContain(r => r.IsSuccess);
        results.Select(r => r.Value!.Id).Should().Equal(Enumerable.Range(0, 120).Select(i => i % 50 + 1));
        _server.PeakInFlight.Should().BeInRange(2, 6);
    }

    [Fact]
    public async Task FetchAllAsync_MaxConcurrencyPerHost_ServerNeverSeesMoreInFlight()
    {
        await WaitForServerIdleAsync();
        _server.ResetCounters();
        var uris = Enumerable.Range(0, 60).Select(i => _server.Url($"items/{i + 1}?delayMs=10")).ToList();

        var results = await Fetcher(o => { o.MaxConcurrency = 20; o.MaxConcurrencyPerHost = 3; })
            .FetchAllAsync(uris, IntegrationJson.Default.ServerItem, Ct);

        results.Should().OnlyContain(r => r.IsSuccess);
        _server.PeakInFlight.Should().BeInRange(2, 3);
    }

    [Fact]
    public async Task FetchAllAsync_EachKindOfFailure_GivesThatKindForThatUrlOnly()
    {
        Uri[] uris =
        [
            _server.Url("items/1"),
            _server.Url("items/2?delayMs=10000"),
            _server.Url("status/500"),
            _server.Url("reset"),
            _server.Url("large?bytes=10"),
            _server.Url("largejson?bytes=300000"),
            _server.Url("items/3"),
        ];

        // The timeout is real (Kestrel on loopback): long enough for every answered request on a loaded machine, far
        // below the 10 s the delayed one takes.
        var results = await Fetcher(o => { o.PerRequestTimeout = TimeSpan.FromSeconds(3); o.MaxResponseBytes = 64 * 1024; })
            .FetchAllAsync(uris, IntegrationJson.Default.ServerItem, Ct);

        results.Select(r => r.Error?.Kind).Should().Equal(
            [null, FetchErrorKind.Timeout, FetchErrorKind.HttpStatus, FetchErrorKind.Network, FetchErrorKind.InvalidContent, FetchErrorKind.TooLarge, null],
            string.Join(Environment.NewLine, results));
        results[0].Value.Should().Be(LoopbackServer.CreateItem(1));
        results[6].Value.Should().Be(LoopbackServer.CreateItem(3));
        results[2].StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        results[5].StatusCode.Should().Be(HttpStatusCode.OK);
        await WaitForServerIdleAsync();
    }

    [Fact]
    public async Task FetchAllAsync_CallerCancels_ThrowsAndTheServerSeesEveryRequestAborted()
    {
        await WaitForServerIdleAsync();
        _server.ResetCounters();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var uris = Enumerable.Range(0, 10).Select(i => _server.Url($"hold/cancel-{i}")).ToList();

        var task = Fetcher(o => o.MaxConcurrency = 4).FetchAllAsync(uris, IntegrationJson.Default.ServerItem, cts.Token);
        await FakeClock.WaitUntilAsync(() => _server.InFlight == 4, cancellationToken: Ct);
        await cts.CancelAsync();

        (await task.Invoking(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>())
            .Which.CancellationToken.Should().Be(cts.Token);
        await WaitForServerIdleAsync();
        _server.Requests.Should().HaveCount(4, "nothing new starts after the cancellation");
    }

    [Fact]
    public async Task FetchAsync_BreakEarly_AbortsEveryRequestInFlight()
    {
        await WaitForServerIdleAsync();
        _server.ResetCounters();
        var uris = new[] { _server.Url("items/1?delayMs=50") }.Concat(Enumerable.Range(0, 10).Select(i => _server.Url($"hold/break-{i}")));

        await foreach (var result in Fetcher(o => o.MaxConcurrency = 5).FetchAsync(uris, IntegrationJson.Default.ServerItem, Ct))
        {
            result.Value!.Id.Should().Be(1);
            break;
        }

        await WaitForServerIdleAsync();
        _server.Requests.Count.Should().BeLessThanOrEqualTo(6);
    }

    [Fact]
    public async Task FetchAllAsync_FailFast_ThrowsTheFailureAndAbortsTheRest()
    {
        await WaitForServerIdleAsync();
        _server.ResetCounters();
        var uris = new[] { _server.Url("hold/ff-0"), _server.Url("status/503?delayMs=100"), _server.Url("hold/ff-1") }
            .Concat(Enumerable.Range(2, 20).Select(i => _server.Url($"hold/ff-{i}")));

        var act = () => Fetcher(o => { o.MaxConcurrency = 3; o.FailFast = true; }).FetchAllAsync(uris, IntegrationJson.Default.ServerItem, Ct);

        var thrown = await act.Should().ThrowAsync<FetchFailedException>();
        thrown.Which.Index.Should().Be(1);
        thrown.Which.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        await WaitForServerIdleAsync();
        _server.Requests.Should().HaveCount(3, "nothing new starts after the failure");
    }

    [Fact]
    public async Task FetchAllAsync_RateLimiterTenPerSecondBurstOne_RequestsArriveSpacedAtTheRate()
    {
        // Warm the client's connection pool first: the permit gates when a request is sent, and a request that
        // waits for a new connection to open would reach the server later than it was sent.
        (await _client.GetAsync(_server.Url("items/1"), Ct)).Dispose();
        await WaitForServerIdleAsync();
        _server.ResetCounters();
        long created = TimeProvider.System.GetTimestamp();
        using var limiter = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = 1, TokensPerPeriod = 1, ReplenishmentPeriod = TimeSpan.FromMilliseconds(100), QueueLimit = 100, AutoReplenishment = true,
        });
        var uris = Enumerable.Range(1, 6).Select(i => _server.Url($"items/{i}")).ToList();

        var results = await Fetcher(o => o.RateLimiter = limiter).FetchAllAsync(uris, IntegrationJson.Default.ServerItem, Ct);

        results.Should().OnlyContain(r => r.IsSuccess);
        var arrivals = _server.Requests.Select(r => r.ArrivedAt).Order().ToList();
        arrivals.Should().HaveCount(6);

        // The bucket holds one token and gains one per 100 ms tick of its own timer, which starts when the limiter
        // is created: by 100 ms × i after that, at most i + 1 requests can have been granted, so the i-th arrival
        // (from 0) comes no earlier than 100 ms × i. Load can only delay a tick or a request, never advance one, so
        // these lower bounds hold on any machine (10 ms of slack for the timer's granularity); an upper bound on
        // real time would not.
        var sinceCreated = arrivals.Select(a => TimeProvider.System.GetElapsedTime(created, a)).ToList();
        for (int i = 1; i < sinceCreated.Count; i++)
        {
            sinceCreated[i].Should().BeGreaterThanOrEqualTo(
                TimeSpan.FromMilliseconds((100 * i) - 10), $"request {i} of {string.Join(", ", sinceCreated)}");
        }
    }

    [Fact]
    public async Task FetchAllAsync_RetriesAndA429WithRetryAfter1_WaitsItOut()
    {
        await WaitForServerIdleAsync();
        _server.ResetCounters();
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = 2,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result?.StatusCode == HttpStatusCode.TooManyRequests),
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Result?.Headers.RetryAfter?.Delta),
            })
            .Build();
        var key = Guid.NewGuid().ToString("N");

        var results = await Fetcher(o => o.ResiliencePipeline = pipeline)
            .FetchAllAsync([_server.Url($"ratelimited?key={key}&times=1&retryAfter=1")], IntegrationJson.Default.ServerItem, Ct);

        results[0].IsSuccess.Should().BeTrue(results[0].ToString());
        results[0].Attempts.Should().Be(2);
        var arrivals = _server.Requests.Select(r => r.ArrivedAt).ToList();
        arrivals.Should().HaveCount(2);
        TimeProvider.System.GetElapsedTime(arrivals[0], arrivals[1]).Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds(0.95));
    }

    [Fact]
    public async Task FetchAsync_TenThousandUrlsFromALazySource_OneResultEachWithBoundedLookAhead()
    {
        const int Count = 10_000;
        const int MaxConcurrency = 32;
        var pulled = 0;
        IEnumerable<Uri> Source()
        {
            for (var i = 0; i < Count; i++)
            {
                Interlocked.Increment(ref pulled);
                yield return _server.Url($"items/{i % _server.ItemCount + 1}");
            }
        }

        var seen = new BitArray(Count);
        var consumed = 0;
        var maxLookAhead = 0;
        var early = new List<WeakReference>();
        await foreach (var result in Fetcher(o => o.MaxConcurrency = MaxConcurrency).FetchAsync(Source(), IntegrationJson.Default.ServerItem, Ct))
        {
            result.IsSuccess.Should().BeTrue();
            seen[result.Index].Should().BeFalse("every URL gets exactly one result");
            seen[result.Index] = true;
            consumed++;
            maxLookAhead = Math.Max(maxLookAhead, Volatile.Read(ref pulled) - consumed);
            if (consumed <= 100)
            {
                early.Add(new WeakReference(result));
            }
            else if (consumed == Count / 2)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
                early.Count(w => w.IsAlive).Should().Be(0, "the fetcher keeps no result it has handed out");
            }
        }

        consumed.Should().Be(Count);
        seen.Cast<bool>().Should().AllBeEquivalentTo(true);
        maxLookAhead.Should().BeLessThanOrEqualTo(MaxConcurrency, "the source is pulled only when a slot frees");
    }

    [Fact]
    public async Task FetchAllAsync_FiveThousandRequests_OpenNoMoreConnectionsThanMaxConcurrency()
    {
        // A server of its own: on the shared one, a connection that an earlier test's client had started to open
        // (for a request it then cancelled) could be accepted after the counters were reset and counted here.
        await using var server = await LoopbackServer.StartAsync(cancellationToken: Ct);
        using var client = new HttpClient();
        var uris = Enumerable.Range(0, 5_000).Select(i => server.Url($"items/{i % server.ItemCount + 1}"));

        // A request's response is read to its end and disposed, giving its connection back, before its slot frees.
        var results = await new ConcurrentHttpFetcher(client, new FetchOptions { MaxConcurrency = 16 })
            .FetchAllAsync(uris, IntegrationJson.Default.ServerItem, Ct);

        results.Should().HaveCount(5_000).And.OnlyContain(r => r.IsSuccess);
        server.AcceptedConnections.Should().BeInRange(1, 16);
    }

    [Fact]
    public async Task FetchAllRawAsync_LargeBodyWithinLimit_ReturnsStatusHeadersAndEveryByte()
    {
        var results = await Fetcher().FetchAllRawAsync([_server.Url("large?bytes=100000"), _server.Url("status/404")], Ct);

        results[0].Value!.StatusCode.Should().Be(HttpStatusCode.OK);
        results[0].Value!.Body.Length.Should().Be(100_000);
        results[0].Value!.Headers["Content-Type"].Should().Equal("application/octet-stream");
        results[0].Value!.GetBodyAsString().Should().Be(new string('x', 100_000));
        results[1].Error!.Kind.Should().Be(FetchErrorKind.HttpStatus);
        results[1].StatusCode.Should().Be(HttpStatusCode.NotFound);
    }
}
