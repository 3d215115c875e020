using System.Net;
using AsyncPatterns.Http;
using AsyncPatterns.Http.Internal;

namespace AsyncPatterns.Tests.Http;

/// <summary>Details of results and arguments: content headers, a request without a URI, options given to the factory constructor, the size error.</summary>
public sealed partial class ConcurrentHttpFetcherTests
{
    [Fact]
    public async Task FetchAllRawAsync_ContentHeaders_AreListedWithTheResponseHeaders()
    {
        _handler.OnAnyRequest(StubResponse.Text("hello").WithHeader("X-Server", "stub"));

        var results = await Fetcher().FetchAllRawAsync([Url("a")], Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        var headers = results[0].Value!.Headers;
        headers["X-Server"].Should().Equal("stub");
        headers["Content-Type"].Should().ContainSingle().Which.Should().StartWith("text/plain");
        headers["Content-Length"].Should().Equal("5");
    }

    [Fact]
    public async Task FetchAllRawAsync_RequestWithoutUri_ThrowsNamingTheIndex()
    {
        _handler.OnAnyRequest(StubResponse.Text("ok"));
        static async IAsyncEnumerable<HttpRequestMessage> Requests()
        {
            await Task.Yield();
            yield return new HttpRequestMessage(HttpMethod.Get, Url("ok"));
            yield return new HttpRequestMessage();
        }

        var act = () => Fetcher(o => o.MaxConcurrency = 1).FetchAllRawAsync(Requests(), Ct);

        var thrown = await act.Should().ThrowAsync<ArgumentException>();
        thrown.Which.ParamName.Should().Be("requests");
        thrown.Which.Message.Should().Contain("index 1").And.Contain("no URI");
    }

    [Fact]
    public async Task Constructor_FactoryWithOptions_UsesThem()
    {
        _handler.OnAnyRequest(StubResponse.Status(HttpStatusCode.NotFound));
        var fetcher = new ConcurrentHttpFetcher(new SingleClientFactory(_client), "client", new FetchOptions { FailFast = true, TimeProvider = _clock });

        var act = () => fetcher.FetchAllAsync([Url("missing")], HttpTestJson.Default.ServerItem, Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        (await act.Should().ThrowAsync<FetchFailedException>()).Which.StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task FetchAllRawAsync_DeclaredLengthOverTheLimit_SaysTheLengthAndTheLimit()
    {
        _handler.OnAnyRequest(StubResponse.Bytes(new byte[101]));

        var results = await Fetcher(o => o.MaxResponseBytes = 100).FetchAllRawAsync([Url("big")], Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        var error = results[0].Error!;
        error.Kind.Should().Be(FetchErrorKind.TooLarge);
        error.Message.Should().Contain("http://stub.test/big").And.Contain("101").And.Contain("100");
    }

    [Fact]
    public void LimitedReadStream_IsReadOnlyAndForwardOnly()
    {
        using var stream = new LimitedReadStream(new MemoryStream([1, 2, 3]), 10);

        stream.CanRead.Should().BeTrue();
        stream.CanSeek.Should().BeFalse();
        stream.CanWrite.Should().BeFalse();
    }
}
