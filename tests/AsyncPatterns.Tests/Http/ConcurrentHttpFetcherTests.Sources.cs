using AsyncPatterns.Http;

namespace AsyncPatterns.Tests.Http;

/// <summary>URI sources: async sequences of URIs, and relative URIs resolved against the client's BaseAddress.</summary>
public sealed partial class ConcurrentHttpFetcherTests
{
    [Fact]
    public async Task FetchAllAsync_AsyncSequenceOfUris_FetchesEachInInputOrder()
    {
        _handler.OnAnyRequest(Item(1));
        async IAsyncEnumerable<Uri> Uris()
        {
            for (var i = 0; i < 5; i++)
            {
                await Task.Yield();
                yield return Url($"items/{i}");
            }
        }

        var results = await Fetcher().FetchAllAsync(Uris(), HttpTestJson.Default.ServerItem, Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        results.Select(r => r.Uri!.AbsolutePath).Should().Equal("/items/0", "/items/1", "/items/2", "/items/3", "/items/4");
        results.Should().OnlyContain(r => r.IsSuccess);
    }

    [Fact]
    public async Task FetchRawAsync_AsyncSequenceOfUrisEnumeratedTwice_EachEnumerationIsItsOwnPass()
    {
        _handler.OnAnyRequest(StubResponse.Text("ok"));
        var passes = 0;
        async IAsyncEnumerable<Uri> Uris()
        {
            Interlocked.Increment(ref passes);
            await Task.Yield();
            yield return Url("a");
            yield return Url("b");
        }

        var fetch = Fetcher().FetchRawAsync(Uris(), Ct);
        var first = await CollectAsync(fetch).WaitAsync(FakeClock.HangTimeout, Ct);
        var second = await CollectAsync(fetch).WaitAsync(FakeClock.HangTimeout, Ct);

        first.Should().HaveCount(2);
        second.Should().HaveCount(2);
        passes.Should().Be(2);
        _handler.RequestCount.Should().Be(4);
    }

    [Fact]
    public async Task FetchAllRawAsync_AsyncUriSourceThrowsInMoveNext_ThrowsThatException()
    {
        _handler.OnAnyRequest(StubResponse.Text("ok"));
        var failure = new InvalidOperationException("the source broke");
        async IAsyncEnumerable<Uri> Uris()
        {
            await Task.Yield();
            yield return Url("a");
            throw failure;
        }

        var act = () => Fetcher().FetchAllRawAsync(Uris(), Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        (await act.Should().ThrowAsync<InvalidOperationException>()).Which.Should().BeSameAs(failure);
    }

    [Fact]
    public async Task FetchAllRawAsync_AsyncUriSourceInvalidUri_ThrowsNamingTheIndex()
    {
        async IAsyncEnumerable<Uri> Uris()
        {
            await Task.Yield();
            yield return Url("a");
            yield return new Uri("ftp://stub.test/b");
        }

        var act = () => Fetcher(o => o.MaxConcurrency = 1).FetchAllRawAsync(Uris(), Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("ftp://stub.test/b").And.Contain("index 1");
    }

    [Fact]
    public async Task FetchAllAsync_RelativeUriWithBaseAddress_ResolvesAgainstIt()
    {
        _handler.OnAnyRequest(Item(1));
        using var client = new HttpClient(_handler, disposeHandler: false) { BaseAddress = new Uri("http://stub.test/api/") };
        var fetcher = new ConcurrentHttpFetcher(client, new FetchOptions { TimeProvider = _clock });

        var results = await fetcher.FetchAllAsync([new Uri("items/1", UriKind.Relative)], HttpTestJson.Default.ServerItem, Ct)
            .WaitAsync(FakeClock.HangTimeout, Ct);

        results.Should().ContainSingle().Which.Uri.Should().Be(new Uri("http://stub.test/api/items/1"));
        results[0].IsSuccess.Should().BeTrue();
    }

    [Fact]
    public void FetchAsync_RelativeUriWithoutBaseAddress_ThrowsSayingHowToFix()
    {
        var act = () => Fetcher().FetchAsync([new Uri("items/1", UriKind.Relative)], HttpTestJson.Default.ServerItem, Ct);

        act.Should().Throw<ArgumentException>().WithParameterName("uris")
            .Which.Message.Should().Contain("items/1").And.Contain("BaseAddress").And.Contain("absolute");
    }

    [Fact]
    public async Task FetchAllRawAsync_RelativeRequestUriWithBaseAddress_SendsToTheResolvedUri()
    {
        _handler.OnAnyRequest(StubResponse.Text("ok"));
        using var client = new HttpClient(_handler, disposeHandler: false) { BaseAddress = new Uri("http://stub.test/api/") };
        var fetcher = new ConcurrentHttpFetcher(client, new FetchOptions { TimeProvider = _clock });
        async IAsyncEnumerable<HttpRequestMessage> Requests()
        {
            await Task.Yield();
            yield return new HttpRequestMessage(HttpMethod.Get, new Uri("items/2", UriKind.Relative));
        }

        var results = await fetcher.FetchAllRawAsync(Requests(), Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        results.Should().ContainSingle().Which.Uri.Should().Be(new Uri("http://stub.test/api/items/2"));
        results[0].IsSuccess.Should().BeTrue();
    }
}
