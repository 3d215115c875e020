using AsyncPatterns.Pagination;
using AsyncPatterns.Pagination.Internal;

namespace AsyncPatterns.Tests.Pagination.Internal;

/// <summary>The Link-header paginator against a hostile server: quoted parameters (RFC 8288) and links to other origins.</summary>
public sealed class LinkHeaderPageSourceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("<https://a.test/evil>; title=\"a<b\", <https://a.test/2>; rel=\"next\"", "https://a.test/2")]
    [InlineData("<https://a.test/2>; title=\"a<b\"; rel=\"next\"", "https://a.test/2")]
    [InlineData("<https://a.test/evil>; title=\"; rel=next\", <https://a.test/2>; rel=\"next\"", "https://a.test/2")]
    [InlineData("<https://a.test/evil>; title=\"x, <https://a.test/2>; rel=next\"", null)]
    [InlineData("<https://a.test/evil>; title=\"say \\\"rel=next\\\"\"; rel=\"last\", <https://a.test/2>; rel=next", "https://a.test/2")]
    [InlineData("<https://a.test/2>; rel=\"next last\"", "https://a.test/2")]
    [InlineData("<https://a.test/2>; title=\"a, b\"; rel=\"next\"", "https://a.test/2")]
    [InlineData("<https://a.test/9>; rel=\"last\"; rel=\"next\"", null)]
    [InlineData("<https://a.test/2>;rel=next,<https://a.test/9>;rel=last", "https://a.test/2")]
    [InlineData("<https://a.test/2>; rel = \"next\"", "https://a.test/2")]
    [InlineData("<https://a.test/2>; title=\"unterminated; rel=next", null)]
    [InlineData("<//other.test/2>; rel=\"next\"", "//other.test/2")]
    [InlineData("<p2>; rel=\"next\"", "p2")]
    public void FindNext_QuotedParameters_AreParsedAsRfc8288Says(string header, string? expected)
    {
        LinkHeaderPageSource<int>.FindNext(header).Should().Be(expected);
    }

    [Fact]
    public void FindNext_HeaderOf200KiloBytes_FindsTheNextLinkAtTheEnd()
    {
        var header = string.Concat(Enumerable.Repeat("<https://a.test/x>; rel=\"prev\"; title=\"a;b<c\", ", 4_500)) + "<https://a.test/2>; rel=\"next\"";
        header.Length.Should().BeGreaterThan(199_000);

        LinkHeaderPageSource<int>.FindNext(header).Should().Be("https://a.test/2");
    }

    [Theory]
    [InlineData("https://attacker.example.test/steal")]
    [InlineData("//attacker.example.test/steal")]
    [InlineData("http://api.test/p2")]
    [InlineData("https://api.test:8443/p2")]
    public async Task FromLinkHeader_NextLinkOnAnotherOrigin_ThrowsNamingBothOriginsAndNeverSendsTheHeadersThere(string next)
    {
        var handler = new StubHttpMessageHandler()
            .OnPath("/p1", StubResponse.Json("[1,2]").WithHeader("Link", "<https://api.test/p2>; rel=\"next\""))
            .OnPath("/p2", StubResponse.Json("[3]").WithHeader("Link", $"<{next}>; rel=\"next\""))
            .OnAnyRequest(StubResponse.Json("[666]"));
        using var client = new HttpClient(handler);
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "SECRET-TOKEN");
        var paginator = Paginator.FromLinkHeader(client, new Uri("https://api.test/p1"), PaginationJsonContext.Default.Int32);
        var seen = new List<int>();

        var act = async () =>
        {
            await foreach (var item in paginator.WithCancellation(Ct))
            {
                seen.Add(item);
            }
        };

        var thrown = await act.Should().ThrowAsync<HttpRequestException>();
        thrown.Which.HttpRequestError.Should().Be(HttpRequestError.InvalidResponse);
        thrown.Which.Message.Should().Contain("https://api.test").And.Contain(new Uri(new Uri("https://api.test/p1"), next).GetComponents(UriComponents.SchemeAndServer, UriFormat.UriEscaped));
        seen.Should().Equal([1, 2], "the page that carries the foreign link throws instead of being delivered");
        handler.Requests.Select(r => r.Uri!.ToString()).Should().Equal(["https://api.test/p1", "https://api.test/p2"], "nothing is sent to another origin");
    }

    [Fact]
    public async Task FromLinkHeader_SameOriginNextLink_TokenResumesTheEnumeration()
    {
        var handler = new StubHttpMessageHandler()
            .OnPath("/p1", StubResponse.Json("[1]").WithHeader("Link", "<https://API.test:443/p2>; rel=\"next\""))
            .OnPath("/p2", StubResponse.Json("[2]"));
        using var client = new HttpClient(handler);
        var paginator = Paginator.FromLinkHeader(client, new Uri("https://api.test/p1"), PaginationJsonContext.Default.Int32);

        var first = await paginator.AsPages().FirstAsync(Ct);
        var resumed = new List<int>();
        await foreach (var page in paginator.AsPages(first.ContinuationToken).WithCancellation(Ct))
        {
            resumed.AddRange(page.Items);
        }

        resumed.Should().Equal(2);
    }

    [Fact]
    public async Task FromLinkHeader_NextLinkThatIsNotAUri_ThrowsHttpRequestExceptionInsteadOfUriFormatException()
    {
        var handler = new StubHttpMessageHandler()
            .OnPath("/p1", StubResponse.Json("[1]").WithHeader("Link", "<http://[bad/p2>; rel=\"next\""));
        using var client = new HttpClient(handler);
        var paginator = Paginator.FromLinkHeader(client, new Uri("https://api.test/p1"), PaginationJsonContext.Default.Int32);

        var act = async () => await paginator.CollectAsync(Ct);

        (await act.Should().ThrowAsync<HttpRequestException>()).Which.HttpRequestError.Should().Be(HttpRequestError.InvalidResponse);
    }

    [Fact]
    public void AsPages_ForeignTokenWithUserInfo_MessageHidesTheCredentials()
    {
        using var client = new HttpClient();
        var paginator = Paginator.FromLinkHeader(client, new Uri("https://api.test/p1"), PaginationJsonContext.Default.Int32);

        var act = () => paginator.AsPages("https://user:hunter2@elsewhere.test/p2");

        act.Should().Throw<ArgumentException>().Which.Message.Should().NotContain("hunter2");
    }
}
