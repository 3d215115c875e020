using System.Collections;
using System.Collections.Concurrent;
using System.Net;
using AsyncPatterns.Http;

namespace AsyncPatterns.Tests.Http;

/// <summary>
/// What the fetcher owns and must release whatever ends the run (the caller's messages, the sources' enumerators),
/// how it reports a source or a worker that fails with a fault, and how it reads a body of unknown length.
/// </summary>
public sealed partial class ConcurrentHttpFetcherTests
{
    [Fact]
    public async Task FetchAllAsync_CallerCancelsWithAPerRequestTimeout_CancelsTheAttemptsInFlight()
    {
        _handler.OnAnyRequest(StubResponse.Hang());
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var task = Fetcher(o => { o.MaxConcurrency = 2; o.PerRequestTimeout = TimeSpan.FromSeconds(30); })
            .FetchAllAsync([Url("a"), Url("b")], HttpTestJson.Default.ServerItem, cts.Token);
        await FakeClock.WaitUntilAsync(() => _handler.InFlight == 2, cancellationToken: Ct);
        await cts.CancelAsync();

        // The clock does not move: only the caller's token can end the attempts.
        var thrown = await task.Invoking(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>();
        thrown.Which.CancellationToken.Should().Be(cts.Token);
        _handler.InFlight.Should().Be(0);
    }

    [Fact]
    public async Task FetchRawAsync_CancelledWhileARequestWaitsForItsHost_DisposesThatRequest()
    {
        // The first request holds the host's only slot until the test lets it go, even after the cancellation, so
        // the second one is still waiting for the slot when the run is cancelled.
        var letGo = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var handler = new HeldHandler(letGo.Task);
        using var client = new HttpClient(handler);
        var first = new TrackingContent("first");
        var second = new TrackingContent("second");
        var pulledSecond = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async IAsyncEnumerable<HttpRequestMessage> Requests()
        {
            await Task.Yield();
            yield return new HttpRequestMessage(HttpMethod.Post, Url("one")) { Content = first };
            pulledSecond.SetResult();
            yield return new HttpRequestMessage(HttpMethod.Post, Url("two")) { Content = second };
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var fetcher = new ConcurrentHttpFetcher(client, new FetchOptions
        {
            TimeProvider = _clock, PerRequestTimeout = Timeout.InfiniteTimeSpan, MaxConcurrency = 2, MaxConcurrencyPerHost = 1,
        });
        var task = fetcher.FetchAllRawAsync(Requests(), cts.Token);
        await FakeClock.WaitUntilAsync(() => handler.Received == 1, cancellationToken: Ct);
        await pulledSecond.Task.WaitAsync(FakeClock.HangTimeout, Ct);
        await cts.CancelAsync();

        await FakeClock.WaitUntilAsync(() => second.IsDisposed, cancellationToken: Ct);
        second.IsDisposed.Should().BeTrue("a message that never got its host's slot is disposed when the run ends");
        letGo.SetResult();
        await task.Invoking(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>();
        first.IsDisposed.Should().BeTrue("the fetcher owns the messages it was given");
        handler.Received.Should().Be(1);
    }

    [Fact]
    public async Task FetchAllRawAsync_InvalidRequestInLazySource_ThrowsNamingTheIndexAndDisposesIt()
    {
        _handler.OnAnyRequest(StubResponse.Text("ok"));
        var valid = new TrackingContent("valid");
        var invalid = new TrackingContent("invalid");
        async IAsyncEnumerable<HttpRequestMessage> Requests()
        {
            await Task.Yield();
            yield return new HttpRequestMessage(HttpMethod.Post, Url("ok")) { Content = valid };
            yield return new HttpRequestMessage(HttpMethod.Post, new Uri("relative/b", UriKind.Relative)) { Content = invalid };
        }

        var act = () => Fetcher(o => o.MaxConcurrency = 1).FetchAllRawAsync(Requests(), Ct);

        var thrown = await act.Should().ThrowAsync<ArgumentException>();
        thrown.Which.ParamName.Should().Be("requests");
        thrown.Which.Message.Should().Contain("relative/b").And.Contain("index 1");
        invalid.IsDisposed.Should().BeTrue("the fetcher owns a message once it has pulled it, valid or not");
        valid.IsDisposed.Should().BeTrue();
        _handler.Requests.Should().OnlyContain(r => r.Uri!.AbsolutePath == "/ok");
    }

    [Fact]
    public async Task FetchAsync_BreakEarly_DisposesTheEnumeratorOfTheUris()
    {
        _handler.OnAnyRequest(Item(1));
        var disposed = 0;
        IEnumerable<Uri> Source()
        {
            try
            {
                for (var i = 0; i < 100; i++)
                {
                    yield return Url($"items/{i}");
                }
            }
            finally
            {
                Interlocked.Increment(ref disposed);
            }
        }

        await foreach (var result in Fetcher(o => o.MaxConcurrency = 1).FetchAsync(Source(), HttpTestJson.Default.ServerItem, Ct))
        {
            result.IsSuccess.Should().BeTrue();
            break;
        }

        Volatile.Read(ref disposed).Should().Be(1);
        _handler.RequestCount.Should().BeLessThan(100);
    }

    [Fact]
    public async Task FetchRawAsync_BreakEarly_DisposesTheEnumeratorOfTheRequests()
    {
        _handler.OnAnyRequest(StubResponse.Text("ok"));
        var disposed = 0;
        async IAsyncEnumerable<HttpRequestMessage> Requests()
        {
            try
            {
                for (var i = 0; i < 100; i++)
                {
                    await Task.Yield();
                    yield return new HttpRequestMessage(HttpMethod.Get, Url($"items/{i}"));
                }
            }
            finally
            {
                Interlocked.Increment(ref disposed);
            }
        }

        await foreach (var result in Fetcher(o => o.MaxConcurrency = 1).FetchRawAsync(Requests(), Ct))
        {
            result.IsSuccess.Should().BeTrue();
            break;
        }

        Volatile.Read(ref disposed).Should().Be(1);
    }

    [Fact]
    public async Task FetchAllRawAsync_SourceFailsToDispose_ThrowsThatException()
    {
        _handler.OnAnyRequest(StubResponse.Text("ok"));
        var failure = new InvalidOperationException("the source could not be closed");
        var requests = new FailingDisposeRequests(Url("a"), failure);

        var act = () => Fetcher().FetchAllRawAsync(requests, Ct);

        (await act.Should().ThrowAsync<InvalidOperationException>()).Which.Should().BeSameAs(failure);
        requests.DisposeCalls.Should().Be(1);
    }

    [Fact]
    public void FetchAsync_InvalidUriInAReadOnlyCollection_ThrowsUpFront()
    {
        var uris = new ReadOnlyUriCollection([Url("ok"), new Uri("relative/c", UriKind.Relative)]);

        var act = () => Fetcher().FetchAsync(uris, HttpTestJson.Default.ServerItem, Ct);

        act.Should().Throw<ArgumentException>().Which.Message.Should().Contain("relative/c").And.Contain("index 1");
    }

    [Fact]
    public async Task FetchAllRawAsync_BodyOfUnknownLengthReadInLargeChunks_IsReadWhole()
    {
        // TrackingContent has no Content-Length and its stream returns as much as each read asks for, so reads
        // fill the buffer exactly: the reader must grow it rather than take a full buffer for the end of the body.
        var text = new string('x', 10_000);
        _handler.OnRequest(_ => true, (request, _) => Task.FromResult(TrackingContent.Response(request, new TrackingContent(text))));

        var results = await Fetcher().FetchAllRawAsync([Url("a")], Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        results[0].Value!.GetBodyAsString().Should().Be(text);
    }

    [Fact]
    public async Task FetchAllRawAsync_BodyOfUnknownLength_AllocatesInProportionToTheBody()
    {
        // This class runs alone (its collection disables parallelization), so the process-wide count is this test's.
        _handler.OnRequest(_ => true, (request, _) => Task.FromResult(TrackingContent.Response(request, new TrackingContent(new string('x', 10_000)))));
        var fetcher = Fetcher();
        await fetcher.FetchAllRawAsync([Url("warm-up")], Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        var before = GC.GetTotalAllocatedBytes(precise: true);
        var results = await fetcher.FetchAllRawAsync([Url("a")], Ct).WaitAsync(FakeClock.HangTimeout, Ct);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        results[0].Value!.Body.Length.Should().Be(10_000);
        allocated.Should().BeLessThan(16 * 1024 * 1024, "a 10 kB body needs a few buffers of a few kB, not one sized for the largest array");
    }

    /// <summary>Answers 200 only when <paramref name="letGo"/> completes, whatever the request's token says.</summary>
    private sealed class HeldHandler(Task letGo) : HttpMessageHandler
    {
        private int _received;

        public int Received => Volatile.Read(ref _received);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _received);
            await letGo;
            return new HttpResponseMessage(HttpStatusCode.OK) { RequestMessage = request };
        }
    }

    private sealed class ReadOnlyUriCollection(Uri[] uris) : IReadOnlyCollection<Uri>
    {
        public int Count => uris.Length;

        public IEnumerator<Uri> GetEnumerator() => ((IEnumerable<Uri>)uris).GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }

    private sealed class FailingDisposeRequests(Uri uri, Exception failure) : IAsyncEnumerable<HttpRequestMessage>, IAsyncEnumerator<HttpRequestMessage>
    {
        private bool _yielded;
        private int _disposeCalls;

        public int DisposeCalls => Volatile.Read(ref _disposeCalls);

        public HttpRequestMessage Current { get; private set; } = null!;

        public IAsyncEnumerator<HttpRequestMessage> GetAsyncEnumerator(CancellationToken cancellationToken = default) => this;

        public ValueTask<bool> MoveNextAsync()
        {
            if (_yielded)
            {
                return ValueTask.FromResult(false);
            }

            _yielded = true;
            Current = new HttpRequestMessage(HttpMethod.Get, uri);
            return ValueTask.FromResult(true);
        }

        public ValueTask DisposeAsync()
        {
            Interlocked.Increment(ref _disposeCalls);
            return ValueTask.FromException(failure);
        }
    }
}
