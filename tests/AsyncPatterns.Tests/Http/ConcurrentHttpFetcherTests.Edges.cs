using System.Net;
using AsyncPatterns.Http;
using AsyncPatterns.Http.Internal;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace AsyncPatterns.Tests.Http;

/// <summary>Edges: second enumerations, exceptions of one URL, per-host keys and memory, bodies beyond an array, redaction.</summary>
public sealed partial class ConcurrentHttpFetcherTests
{
    [Fact]
    public async Task FetchRawAsync_EnumeratedTwice_EachEnumerationFetchesEveryUri()
    {
        _handler.OnAnyRequest(StubResponse.Text("ok"));
        var results = Fetcher(o => o.MaxConcurrency = 4).FetchRawAsync(Enumerable.Range(0, 100).Select(i => Url($"r/{i}")), Ct);

        var first = await CollectAsync(results).WaitAsync(FakeClock.HangTimeout, Ct);
        var second = await CollectAsync(results).WaitAsync(FakeClock.HangTimeout, Ct);

        first.Select(r => r.Index).Should().BeEquivalentTo(Enumerable.Range(0, 100));
        second.Select(r => r.Index).Should().BeEquivalentTo(Enumerable.Range(0, 100), "a second enumeration starts its own pass, as a LINQ query does");
        second.Should().OnlyContain(r => r.IsSuccess);
        _handler.RequestCount.Should().Be(200);
    }

    [Fact]
    public async Task FetchRawAsync_TwoConcurrentEnumerationsOfALazySource_EachGetsEveryUriOnce()
    {
        _handler.OnAnyRequest(StubResponse.Text("ok"));
        var results = Fetcher(o => o.MaxConcurrency = 8).FetchRawAsync(Enumerable.Range(0, 2_000).Select(i => Url($"r/{i}")), Ct);

        var both = await Task.WhenAll(Task.Run(() => CollectAsync(results), Ct), Task.Run(() => CollectAsync(results), Ct))
            .WaitAsync(FakeClock.HangTimeout, Ct);

        foreach (var pass in both)
        {
            pass.Select(r => r.Uri!.AbsolutePath).Should().OnlyHaveUniqueItems().And.HaveCount(2_000);
        }
    }

    [Fact]
    public async Task FetchAllAsync_CircuitBreakerOpens_EveryOtherUrlStillGetsItsResult()
    {
        _handler.OnAnyRequest(StubResponse.Status(HttpStatusCode.InternalServerError));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
            {
                FailureRatio = 0.5,
                MinimumThroughput = 2,
                BreakDuration = TimeSpan.FromMinutes(1),
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result is { IsSuccessStatusCode: false }),
            })
            .Build();

        var results = await Fetcher(o => { o.MaxConcurrency = 1; o.ResiliencePipeline = pipeline; })
            .FetchAllAsync(Enumerable.Range(0, 10).Select(i => Url($"c/{i}")), HttpTestJson.Default.ServerItem, Ct)
            .WaitAsync(FakeClock.HangTimeout, Ct);

        results.Should().HaveCount(10);
        results.Take(2).Should().OnlyContain(r => r.Error!.Kind == FetchErrorKind.HttpStatus);
        results.Skip(2).Should().OnlyContain(r => r.Error!.Kind == FetchErrorKind.Rejected && r.Error.Exception is BrokenCircuitException);
    }

    [Fact]
    public async Task FetchAllAsync_PollyTimeoutRejects_IsThatUrlsTimeoutResult()
    {
        _handler.OnPath("/slow", StubResponse.Hang()).OnAnyRequest(Item(1));
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _clock }
            .AddTimeout(TimeSpan.FromSeconds(1))
            .Build();

        var task = Fetcher(o => { o.MaxConcurrency = 2; o.ResiliencePipeline = pipeline; })
            .FetchAllAsync([Url("slow"), Url("fast")], HttpTestJson.Default.ServerItem, Ct);
        await FakeClock.WaitUntilAsync(() => _handler.RequestCount == 2, cancellationToken: Ct);
        await _clock.AdvanceUntilCompletedAsync(task, TimeSpan.FromMilliseconds(500));

        var results = await task;
        results[0].Error!.Kind.Should().Be(FetchErrorKind.Timeout);
        results[0].Error!.Exception.Should().BeOfType<TimeoutRejectedException>();
        results[1].IsSuccess.Should().BeTrue();
    }

    [Theory]
    [InlineData(typeof(UriFormatException))]
    [InlineData(typeof(ArgumentOutOfRangeException))]
    [InlineData(typeof(InvalidOperationException))]
    [InlineData(typeof(NotSupportedException))]
    public async Task FetchAllAsync_OneUrlThrowsAnUnexpectedException_IsThatUrlsErrorAndTheOthersSucceed(Type exceptionType)
    {
        var exception = (Exception)Activator.CreateInstance(exceptionType, "broken by the handler")!;
        _handler.OnPath("/bad", StubResponse.Throw(exception)).OnAnyRequest(Item(1));

        var results = await Fetcher(o => o.MaxConcurrency = 1)
            .FetchAllAsync([Url("ok/1"), Url("bad"), Url("ok/2")], HttpTestJson.Default.ServerItem, Ct)
            .WaitAsync(FakeClock.HangTimeout, Ct);

        results[0].IsSuccess.Should().BeTrue();
        results[1].Error!.Kind.Should().Be(FetchErrorKind.Unexpected);
        results[1].Error!.Exception.Should().BeSameAs(exception);
        results[2].IsSuccess.Should().BeTrue();
    }

    [Fact]
    public async Task FetchAllAsync_UnexpectedExceptionWithFailFast_ThrowsFetchFailedException()
    {
        _handler.OnAnyRequest(StubResponse.Throw(new InvalidOperationException("broken")));

        var act = () => Fetcher(o => o.FailFast = true).FetchAllAsync([Url("bad")], HttpTestJson.Default.ServerItem, Ct);

        (await act.Should().ThrowAsync<FetchFailedException>()).Which.Error.Kind.Should().Be(FetchErrorKind.Unexpected);
    }

    [Fact]
    public async Task FetchAllAsync_PerHostLimitWithUserInfoTrailingDotCaseAndDefaultPort_OneGateForTheHost()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _handler.OnRequest(_ => true, async (request, ct) =>
        {
            await gate.Task.WaitAsync(ct);
            return new HttpResponseMessage(HttpStatusCode.OK) { RequestMessage = request, Content = new StringContent("ok") };
        });
        Uri[] uris =
        [
            new("http://a@stub.test/1"), new("http://b:pw@stub.test/2"), new("http://STUB.test./3"), new("http://stub.test:80/4"),
            new("http://stub.test/5"), new("http://xn--bcher-kva.test/6"), new("http://bücher.test/7"),
        ];

        var task = Fetcher(o => { o.MaxConcurrency = 8; o.MaxConcurrencyPerHost = 1; }).FetchAllRawAsync(uris, Ct);
        await FakeClock.WaitUntilAsync(() => _handler.InFlight >= 2, cancellationToken: Ct);
        await FakeClock.SettleAsync();

        _handler.InFlight.Should().Be(2, "stub.test and bücher.test are one host each, whatever the user info, case, trailing dot, port or IDN form");
        gate.SetResult();
        var results = await task.WaitAsync(FakeClock.HangTimeout, Ct);
        results.Should().OnlyContain(r => r.IsSuccess);
        _handler.PeakInFlight.Should().Be(2);
    }

    [Fact]
    public async Task FetchRawAsync_PerHostLimitOverManyDistinctHosts_RetainsNoGateOfAFinishedHost()
    {
        const int Count = 150_000;
        using var client = new HttpClient(new ConstantHandler());
        var fetcher = new ConcurrentHttpFetcher(client, new FetchOptions { MaxConcurrency = 16, MaxConcurrencyPerHost = 1, PerRequestTimeout = Timeout.InfiniteTimeSpan });
        var uris = Enumerable.Range(0, Count).Select(i => new Uri($"http://h{i}.test/"));
        long atStart = 0;
        long growth = 0;
        var consumed = 0;

        await foreach (var result in fetcher.FetchRawAsync(uris, Ct))
        {
            result.IsSuccess.Should().BeTrue();
            consumed++;
            if (consumed == 5_000)
            {
                atStart = GC.GetTotalMemory(forceFullCollection: true);
            }
            else if (consumed == Count - 100)
            {
                growth = GC.GetTotalMemory(forceFullCollection: true) - atStart;
            }
        }

        consumed.Should().Be(Count);
        growth.Should().BeLessThan(8 * 1024 * 1024, "a host's gate is dropped when its last request ends (about 200 bytes a host otherwise)");
    }

    [Fact]
    public async Task FetchAllRawAsync_DeclaredLengthBeyondAnArrayWithUnboundedLimit_IsTooLargeNotTruncated()
    {
        _handler.OnRequest(_ => true, (request, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)
        {
            RequestMessage = request,
            Content = new DeclaredLengthContent(3_000_000_000, "short"),
        }));

        var results = await Fetcher(o => o.MaxResponseBytes = long.MaxValue).FetchAllRawAsync([Url("huge")], Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        results[0].IsSuccess.Should().BeFalse();
        results[0].Error!.Kind.Should().Be(FetchErrorKind.TooLarge);
    }

    [Fact]
    public async Task RawResponseReader_ChunkedBodyLongerThanTheLargestArray_ThrowsTooLargeInsteadOfTruncating()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(new MemoryStream(new byte[10_000])) };
        response.Content.Headers.ContentLength = null;
        var reader = new RawResponseReader(maxLength: 4_096);

        var act = async () => await reader.ReadAsync(response, new MemoryStream(new byte[10_000]), Ct);

        (await act.Should().ThrowAsync<ResponseTooLargeException>()).Which.Limit.Should().Be(4_096);
        (await reader.ReadAsync(response, new MemoryStream(new byte[4_096]), Ct))!.Body.Length.Should().Be(4_096, "a body of exactly the largest size still fits");
    }

    [Fact]
    public async Task FetchAllRawAsync_UriWithUserInfo_NoMessageContainsThePassword()
    {
        _handler.OnPath("/short", StubResponse.Status(HttpStatusCode.NotFound))
            .OnPath("/slow", StubResponse.Hang())
            .OnAnyRequest(StubResponse.Throw(new HttpRequestException("reset")));
        Uri[] uris = [new("http://user:hunter2@stub.test/short"), new("http://user:hunter2@stub.test/slow"), new("http://user:hunter2@stub.test/reset")];

        var task = Fetcher(o => { o.MaxConcurrency = 3; o.PerRequestTimeout = TimeSpan.FromSeconds(1); }).FetchAllRawAsync(uris, Ct);
        await FakeClock.WaitUntilAsync(() => _handler.RequestCount == 3, cancellationToken: Ct);
        await _clock.AdvanceUntilCompletedAsync(task, TimeSpan.FromMilliseconds(500));
        var results = await task;

        results.Should().OnlyContain(r => !r.IsSuccess);
        foreach (var result in results)
        {
            result.Error!.Message.Should().NotContain("hunter2").And.Contain("http://***@stub.test/");
            result.Error.ToString().Should().NotContain("hunter2");
            result.ToString().Should().NotContain("hunter2");
            (result.Error.Exception?.Message ?? string.Empty).Should().NotContain("hunter2");
        }

        var failFast = () => Fetcher(o => o.FailFast = true).FetchAllRawAsync([uris[0]], Ct);
        (await failFast.Should().ThrowAsync<FetchFailedException>()).Which.Message.Should().NotContain("hunter2");
        var invalid = () => Fetcher().FetchAllRawAsync([new Uri("ftp://user:hunter2@127.0.0.1/x")], Ct);
        (await invalid.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().NotContain("hunter2").And.Contain("ftp://***@127.0.0.1/x");
    }

    /// <summary>Answers every request at once with a two-byte body, recording nothing (for volume tests).</summary>
    private sealed class ConstantHandler : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { RequestMessage = request, Content = new ByteArrayContent("ok"u8.ToArray()) });
    }

    /// <summary>A body that declares a Content-Length it does not have.</summary>
    private sealed class DeclaredLengthContent : HttpContent
    {
        private readonly byte[] _body;

        public DeclaredLengthContent(long declared, string body)
        {
            _body = System.Text.Encoding.UTF8.GetBytes(body);
            Headers.ContentLength = declared;
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(_body).AsTask();

        protected override Task<Stream> CreateContentReadStreamAsync() => Task.FromResult<Stream>(new MemoryStream(_body));

        protected override bool TryComputeLength(out long length)
        {
            length = _body.Length;
            return false;
        }
    }
}
