using System.Net;
using AsyncPatterns.Pagination;
using AsyncPatterns.Pagination.Internal;
using AsyncPatterns.Retries;
using Microsoft.Extensions.DependencyInjection;

namespace AsyncPatterns.Tests.Pagination;

/// <summary>The factories of <see cref="Paginator"/> and what is specific to each kind.</summary>
public sealed partial class PaginatorTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<IReadOnlyList<int>> Items(params int[] items) => Task.FromResult<IReadOnlyList<int>>(items);

    [Fact]
    public async Task FromCursor_EmptyPageWithToken_Continues()
    {
        var requested = new List<string?>();
        var paginator = Paginator.FromCursor<int>((token, _, _) =>
        {
            requested.Add(token);
            return Task.FromResult(token switch
            {
                null => new Page<int>([], "a"),
                "a" => new Page<int>([1, 2], "b"),
                _ => new Page<int>([3], null),
            });
        });

        var items = await paginator.CollectAsync(Ct);

        items.Should().Equal(1, 2, 3);
        requested.Should().Equal(null, "a", "b");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public async Task FromCursor_NullOrEmptyToken_EndsTheSequence(string? lastToken)
    {
        var calls = 0;
        var paginator = Paginator.FromCursor<int>((token, _, _) =>
        {
            calls++;
            return Task.FromResult(token is null ? new Page<int>([1], "next") : new Page<int>([2], lastToken));
        });

        (await paginator.CollectAsync(Ct)).Should().Equal(1, 2);
        calls.Should().Be(2);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public async Task FromCursor_SameTokenTwiceInARow_ThrowsNamingTheToken(int prefetch)
    {
        var calls = 0;
        var paginator = Paginator.FromCursor<int>((token, _, _) =>
        {
            calls++;
            return Task.FromResult(new Page<int>([calls], "stuck-token-42"));
        }).WithPrefetch(prefetch);
        var seen = new List<int>();

        var act = async () =>
        {
            await foreach (var item in paginator.WithCancellation(Ct))
            {
                seen.Add(item);
            }
        };

        (await act.Should().ThrowAsync<InvalidOperationException>()).WithMessage("*'stuck-token-42'*");
        seen.Should().Equal(1);
        calls.Should().Be(2);
    }

    [Fact]
    public async Task FromCursor_PageSizeHint_ReachesTheDelegate()
    {
        int? hint = null;
        var paginator = Paginator.FromCursor<int>((_, h, _) =>
        {
            hint = h;
            return Task.FromResult(new Page<int>([1], null));
        });

        await paginator.AsPages(pageSizeHint: 50).CollectAsync(Ct);

        hint.Should().Be(50);
    }

    [Fact]
    public async Task FromCursor_DelegateReturnsNull_ThrowsInvalidOperation()
    {
        var paginator = Paginator.FromCursor<int>((_, _, _) => Task.FromResult<Page<int>>(null!));

        var act = () => paginator.CollectAsync(Ct);

        await act.Should().ThrowAsync<InvalidOperationException>();
    }

    [Fact]
    public async Task FromPageNumber_ExactMultiple_StopsAtTheEmptyPage()
    {
        var pages = new List<int>();
        var paginator = Paginator.FromPageNumber<int>((page, size, _) =>
        {
            pages.Add(page);
            return Items([.. Enumerable.Range((page - 1) * size + 1, page <= 2 ? size : 0)]);
        }, pageSize: 2);

        (await paginator.CollectAsync(Ct)).Should().Equal(1, 2, 3, 4);
        pages.Should().Equal(1, 2, 3);
    }

    [Fact]
    public async Task FromPageNumber_ZeroBased_StartsAtZeroAndTokensAreThePageNumbers()
    {
        var paginator = Paginator.FromPageNumber<int>((page, _, _) => page < 2 ? Items(page, page) : Items(page), 2, firstPage: 0);

        var pages = await paginator.AsPages().CollectAsync(Ct);

        pages.SelectMany(p => p.Items).Should().Equal(0, 0, 1, 1, 2);
        pages.Select(p => p.ContinuationToken).Should().Equal("1", "2", null);
    }

    [Fact]
    public async Task FromOffset_PageSizeHint_IsTheLimit()
    {
        var calls = new List<(long Offset, int Limit)>();
        var paginator = Paginator.FromOffset<int>((offset, limit, _) =>
        {
            calls.Add((offset, limit));
            return Items([.. Enumerable.Range((int)offset, (int)Math.Min(limit, 5 - offset))]);
        }, pageSize: 2);

        (await paginator.AsPages(pageSizeHint: 3).CollectAsync(Ct)).SelectMany(p => p.Items).Should().Equal(0, 1, 2, 3, 4);
        calls.Should().Equal((0L, 3), (3L, 3));
    }

    [Fact]
    public async Task FromKeyset_Codec_FormatsAndParsesTheLastKey()
    {
        string[] rows = ["ant", "bee", "cat", "dog", "eel"];
        var afterKeys = new List<string>();
        var paginator = Paginator.FromKeyset<string, string>(
            (after, limit, _) =>
            {
                afterKeys.Add(after);
                return Task.FromResult<IReadOnlyList<string>>([.. rows.Where(r => string.CompareOrdinal(r, after) > 0).Take(limit)]);
            },
            row => row,
            initialKey: string.Empty,
            pageSize: 2,
            formatKey: key => "k:" + key,
            parseKey: token => token[2..]);

        var pages = await paginator.AsPages().CollectAsync(Ct);
        var resumed = await paginator.AsPages("k:cat").CollectAsync(Ct);

        pages.SelectMany(p => p.Items).Should().Equal(rows);
        pages.Select(p => p.ContinuationToken).Should().Equal("k:bee", "k:dog", null);
        resumed.SelectMany(p => p.Items).Should().Equal("dog", "eel");
        afterKeys.Should().Equal(string.Empty, "bee", "dog", "cat", "eel");
    }

    [Fact]
    public async Task FromKeyset_ParsableKey_UsesInvariantTokens()
    {
        var paginator = Paginator.FromKeyset<long, long>(
            (after, limit, _) => Task.FromResult<IReadOnlyList<long>>([.. Enumerable.Range((int)after + 1, (int)Math.Min(limit, 1500 - after)).Select(i => (long)i)]),
            key => key,
            0L,
            1000);

        var pages = await paginator.AsPages().CollectAsync(Ct);

        pages.Select(p => p.ContinuationToken).Should().Equal("1000", null);
        pages.Sum(p => p.Items.Count).Should().Be(1500);
    }

    [Fact]
    public async Task FromPages_CallerMutatesPagesAfterwards_PaginatorKeepsItsSnapshot()
    {
        var first = new List<int> { 1, 2 };
        var pages = new List<IReadOnlyList<int>> { first, new List<int> { 3 } };
        var paginator = Paginator.FromPages(pages);

        first.Add(99);
        pages.Add(new List<int> { 100 });

        (await paginator.CollectAsync(Ct)).Should().Equal(1, 2, 3);
        first.Should().Equal(1, 2, 99);
    }

    [Fact]
    public async Task FromPages_Resume_StartsWithTheNextPage()
    {
        var paginator = Paginator.FromPages<int>([[1], [], [2, 3], [4]]);

        var pages = await paginator.AsPages().CollectAsync(Ct);
        var resumed = await paginator.AsPages(pages[1].ContinuationToken).CollectAsync(Ct);

        pages.Select(p => p.Items.Count).Should().Equal(1, 0, 2, 1);
        resumed.SelectMany(p => p.Items).Should().Equal(2, 3, 4);
    }

    [Fact]
    public async Task FromPages_NoPages_YieldsOneEmptyLastPage()
    {
        var pages = await Paginator.FromPages<int>([]).AsPages().CollectAsync(Ct);

        pages.Should().ContainSingle().Which.IsLastPage.Should().BeTrue();
        pages[0].Items.Should().BeEmpty();
    }

    [Fact]
    public async Task FromLinkHeader_ErrorStatus_ThrowsHttpRequestExceptionAfterEarlierItems()
    {
        var handler = new StubHttpMessageHandler()
            .OnPath("/p1", StubResponse.Json("[1,2]").WithHeader("Link", "<http://api.test/p2>; rel=\"next\""))
            .OnPath("/p2", StubResponse.Status(HttpStatusCode.BadGateway));
        using var client = new HttpClient(handler);
        var paginator = Paginator.FromLinkHeader(client, new Uri("http://api.test/p1"), PaginationJsonContext.Default.Int32);
        var seen = new List<int>();

        var act = async () =>
        {
            await foreach (var item in paginator.WithCancellation(Ct))
            {
                seen.Add(item);
            }
        };

        await act.Should().ThrowAsync<HttpRequestException>();
        seen.Should().Equal(1, 2);
    }

    [Fact]
    public async Task FromLinkHeader_503OnALaterPage_ThrowsNamingThePageUrlAndStatus()
    {
        var handler = new StubHttpMessageHandler()
            .OnPath("/p1", StubResponse.Json("[1,2]").WithHeader("Link", "<http://user:secret@api.test/p17?per_page=2>; rel=\"next\""))
            .OnPath("/p17", StubResponse.Status(HttpStatusCode.ServiceUnavailable));
        using var client = new HttpClient(handler);
        var paginator = Paginator.FromLinkHeader(client, new Uri("http://user:secret@api.test/p1"), PaginationJsonContext.Default.Int32);

        var thrown = await paginator.Awaiting(p => p.CollectAsync(Ct)).Should().ThrowAsync<HttpRequestException>();

        thrown.Which.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        thrown.Which.Message.Should().Contain("GET http://***@api.test/p17?per_page=2").And.Contain("503 (Service Unavailable)").And.NotContain("secret");
    }

    [Fact]
    public async Task FromLinkHeader_OverAClientWithTheAttemptPipeline_RetriesTheFailedPageAndGoesOn()
    {
        var clock = FakeClock.Create();
        var handler = new StubHttpMessageHandler(clock)
            .OnPath("/p1", StubResponse.Json("[1,2]").WithHeader("Link", "<http://api.test/p2>; rel=\"next\""))
            .OnPath("/p2", StubResponse.Status(HttpStatusCode.ServiceUnavailable), StubResponse.Json("[3]"));
        var services = new ServiceCollection();
        services.AddHttpClient("api").ConfigurePrimaryHttpMessageHandler(() => handler).AddAttemptPipeline(o =>
        {
            o.Retry = new RetryOptions { BaseDelay = TimeSpan.FromSeconds(1), UseJitter = false, TimeProvider = clock };
            o.TimeProvider = clock;
        });
        await using var provider = services.BuildServiceProvider();
        using var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("api");
        var paginator = Paginator.FromLinkHeader(client, new Uri("http://api.test/p1"), PaginationJsonContext.Default.Int32);

        var items = await clock.AdvanceUntilCompletedAsync(paginator.CollectAsync(Ct), TimeSpan.FromMilliseconds(250));

        items.Should().Equal(1, 2, 3);
        handler.Requests.Select(r => r.Uri!.AbsolutePath).Should().Equal("/p1", "/p2", "/p2");
    }

    [Fact]
    public async Task FromLinkHeader_SeveralLinkHeaders_FollowsTheFirstNextLink()
    {
        var handler = new StubHttpMessageHandler()
            .OnPath("/p1", StubResponse.Json("[1]")
                .WithHeader("Link", "<http://api.test/p2>; rel=\"next\"")
                .WithHeader("Link", "<http://api.test/p9>; rel=\"last\""))
            .OnPath("/p2", StubResponse.Json("[2]"));
        using var client = new HttpClient(handler);
        var paginator = Paginator.FromLinkHeader(client, new Uri("http://api.test/p1"), PaginationJsonContext.Default.Int32);

        var items = await paginator.CollectAsync(Ct);

        items.Should().Equal(1, 2);
        handler.Requests.Select(r => r.Uri!.AbsolutePath).Should().Equal("/p1", "/p2");
    }

    [Fact]
    public async Task FromKeyset_FormatterReturnsAnEmptyKey_ThrowsInvalidOperationException()
    {
        var paginator = Paginator.FromKeyset<int, int>(
            (_, limit, _) => Task.FromResult<IReadOnlyList<int>>([.. Enumerable.Range(1, limit)]),
            item => item,
            0,
            2,
            _ => string.Empty,
            int.Parse);

        var act = () => paginator.AsPages().CollectAsync(Ct);

        await act.Should().ThrowAsync<InvalidOperationException>();
    }

    [Fact]
    public async Task AsPages_EmptyContinuationToken_StartsFromTheBeginningWithANullToken()
    {
        var tokens = new List<string?>();
        var paginator = Paginator.FromCursor<int>((token, _, _) =>
        {
            tokens.Add(token);
            return Task.FromResult(new Page<int>([1], null));
        });

        await paginator.AsPages(continuationToken: string.Empty).CollectAsync(Ct);

        tokens.Should().Equal([null], "an empty token means the first page, as null does");
    }

    [Fact]
    public async Task AsPages_SourceThrowsItsOwnCancellation_PassesItThroughUnchanged()
    {
        using var own = new CancellationTokenSource();
        await own.CancelAsync();
        var timeout = new OperationCanceledException("the source's own timeout", new TimeoutException(), own.Token);
        var paginator = Paginator.FromCursor<int>((_, _, _) => Task.FromException<Page<int>>(timeout));

        var act = () => paginator.AsPages().CollectAsync(Ct);

        (await act.Should().ThrowAsync<OperationCanceledException>()).Which.Should().BeSameAs(timeout);
    }

    [Fact]
    public async Task FromKeyset_PageSizeHint_IsTheLimitAskedFor()
    {
        var limits = new List<int>();
        var paginator = Paginator.FromKeyset<int, int>(
            (after, limit, _) =>
            {
                limits.Add(limit);
                return Task.FromResult<IReadOnlyList<int>>([.. Enumerable.Range(after + 1, limit).Where(i => i <= 7)]);
            },
            item => item,
            0,
            3);

        var pages = await paginator.AsPages(pageSizeHint: 5).CollectAsync(Ct);

        pages.Select(p => p.Items.Count).Should().Equal(5, 2);
        limits.Should().Equal(5, 5);
    }

    [Fact]
    public async Task FromLinkHeader_RelativeNextLink_ResolvesAgainstTheRequestAndExposesTheResponse()
    {
        var handler = new StubHttpMessageHandler()
            .OnPath("/v1/p1", StubResponse.Json("[1]").WithHeader("Link", "<p2?x=1>; rel=\"next\""))
            .OnPath("/v1/p2", StubResponse.Json("[2]"));
        using var client = new HttpClient(handler);
        var paginator = Paginator.FromLinkHeader(client, new Uri("http://api.test/v1/p1"), PaginationJsonContext.Default.Int32);

        var pages = await paginator.AsPages().CollectAsync(Ct);

        pages.Select(p => p.ContinuationToken).Should().Equal("http://api.test/v1/p2?x=1", null);
        pages[0].RawResponse.Should().BeOfType<HttpResponseMessage>().Which.StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("<https://a.test/2>; rel=\"next\", <https://a.test/9>; rel=\"last\"", "https://a.test/2")]
    [InlineData("<https://a.test/1>; rel=\"prev\", <https://a.test/3>; rel=\"next\"", "https://a.test/3")]
    [InlineData("<https://a.test/3?a=1,2>; rel=next", "https://a.test/3?a=1,2")]
    [InlineData("<https://a.test/3>; title=\"x\"; REL=\"last next\"", "https://a.test/3")]
    [InlineData("<https://a.test/9>; rel=\"last\"", null)]
    [InlineData("garbage", null)]
    [InlineData("x>; rel=\"next\"", null)]
    [InlineData("<https://a.test/2; rel=\"next\"", null)]
    [InlineData("<>; rel=\"last\", <https://a.test/2>; rel=\"next\"", "https://a.test/2")]
    [InlineData("<https://a.test/2>; crossorigin; rel=\"next\"", "https://a.test/2")]
    [InlineData("<https://a.test/2>; title=\"next\"", null)]
    public void FindNext_LinkHeader_ReturnsTheNextTarget(string header, string? expected)
    {
        LinkHeaderPageSource<int>.FindNext(header).Should().Be(expected);
    }

    [Fact]
    public void AsPages_TokenOfAnotherKind_ThrowsArgumentException()
    {
        var byNumber = Paginator.FromPageNumber<int>((_, _, _) => Items(), 10);
        var byOffset = Paginator.FromOffset<int>((_, _, _) => Items(), 10);
        using var client = new HttpClient();
        var byLink = Paginator.FromLinkHeader(client, new Uri("http://a.test/"), PaginationJsonContext.Default.Int32);

        FluentActions.Invoking(() => byNumber.AsPages("abc")).Should().Throw<ArgumentException>().WithParameterName("continuationToken");
        FluentActions.Invoking(() => byOffset.AsPages("-1")).Should().Throw<ArgumentException>().WithParameterName("continuationToken");
        FluentActions.Invoking(() => byLink.AsPages("not a uri")).Should().Throw<ArgumentException>().WithParameterName("continuationToken");
        FluentActions.Invoking(() => byLink.AsPages("http://elsewhere.test/page2")).Should().Throw<ArgumentException>().WithParameterName("continuationToken");
        FluentActions.Invoking(() => byLink.AsPages("http://a.test/page2")).Should().NotThrow();
    }

    [Fact]
    public void Factories_BadArguments_Throw()
    {
        Func<int, int, CancellationToken, Task<IReadOnlyList<int>>> byNumber = (_, _, _) => Items();
        Func<long, int, CancellationToken, Task<IReadOnlyList<int>>> byOffset = (_, _, _) => Items();
        Func<int, int, CancellationToken, Task<IReadOnlyList<int>>> byKey = (_, _, _) => Items();
        using var client = new HttpClient();

        FluentActions.Invoking(() => Paginator.FromCursor<int>(null!)).Should().Throw<ArgumentNullException>().WithParameterName("fetchPage");
        FluentActions.Invoking(() => Paginator.FromPageNumber<int>(null!, 10)).Should().Throw<ArgumentNullException>().WithParameterName("fetchPage");
        FluentActions.Invoking(() => Paginator.FromPageNumber(byNumber, 0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("pageSize");
        FluentActions.Invoking(() => Paginator.FromPageNumber(byNumber, 10, -1)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("firstPage");
        FluentActions.Invoking(() => Paginator.FromOffset<int>(null!, 10)).Should().Throw<ArgumentNullException>().WithParameterName("fetchPage");
        FluentActions.Invoking(() => Paginator.FromOffset(byOffset, -5)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("pageSize");
        FluentActions.Invoking(() => Paginator.FromKeyset(byKey, k => k, 0, 0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("pageSize");
        FluentActions.Invoking(() => Paginator.FromKeyset(byKey, null!, 0, 10)).Should().Throw<ArgumentNullException>().WithParameterName("keySelector");
        FluentActions.Invoking(() => Paginator.FromKeyset<int, int>(null!, k => k, 0, 10)).Should().Throw<ArgumentNullException>().WithParameterName("fetchAfter");
        FluentActions.Invoking(() => Paginator.FromKeyset(byKey, k => k, 0, 10, null!, int.Parse)).Should().Throw<ArgumentNullException>().WithParameterName("formatKey");
        FluentActions.Invoking(() => Paginator.FromPages<int>(null!)).Should().Throw<ArgumentNullException>().WithParameterName("pages");
        FluentActions.Invoking(() => Paginator.FromPages<int>([null!])).Should().Throw<ArgumentNullException>().WithParameterName("pages");
        FluentActions.Invoking(() => Paginator.FromLinkHeader(null!, new Uri("http://a.test/"), PaginationJsonContext.Default.Int32)).Should().Throw<ArgumentNullException>().WithParameterName("httpClient");
        FluentActions.Invoking(() => Paginator.FromLinkHeader(client, null!, PaginationJsonContext.Default.Int32)).Should().Throw<ArgumentNullException>().WithParameterName("firstPageUri");
        FluentActions.Invoking(() => Paginator.FromLinkHeader<int>(client, new Uri("http://a.test/"), null!)).Should().Throw<ArgumentNullException>().WithParameterName("itemTypeInfo");
        FluentActions.Invoking(() => Paginator.FromLinkHeader(client, new Uri("p1", UriKind.Relative), PaginationJsonContext.Default.Int32)).Should().Throw<ArgumentException>().WithParameterName("firstPageUri");
    }

    [Fact]
    public async Task Enumerate_RandomPagesLimitsPrefetchAndBreaks_MatchesTheSequentialModel()
    {
        const int seed = 20261124;
        var random = new Random(seed);
        for (var round = 0; round < 300; round++)
        {
            var pageCount = random.Next(0, 12);
            var pages = new List<int[]>();
            var next = 0;
            for (var p = 0; p < pageCount; p++)
            {
                pages.Add([.. Enumerable.Range(next, random.Next(0, 5))]);
                next += pages[^1].Length;
            }

            var prefetch = random.Next(0, 4);
            int? maxPages = random.Next(3) == 0 ? random.Next(1, 6) : null;
            int? maxItems = random.Next(3) == 0 ? random.Next(1, 15) : null;
            var breakAfter = random.Next(3) == 0 ? random.Next(0, 20) : int.MaxValue;
            var inFlight = 0;
            var requests = 0;
            var paginator = Paginator.FromCursor<int>(async (token, _, ct) =>
            {
                Interlocked.Increment(ref requests);
                Interlocked.Increment(ref inFlight);
                try
                {
                    await Task.Yield();
                    var index = token is null ? 0 : int.Parse(token, System.Globalization.CultureInfo.InvariantCulture);
                    return index >= pages.Count
                        ? new Page<int>([], null)
                        : new Page<int>(pages[index], index + 1 < pages.Count ? (index + 1).ToString(System.Globalization.CultureInfo.InvariantCulture) : null);
                }
                finally
                {
                    Interlocked.Decrement(ref inFlight);
                }
            }).WithPrefetch(prefetch);
            if (maxPages is { } mp)
            {
                paginator = paginator.WithMaxPages(mp);
            }

            if (maxItems is { } mi)
            {
                paginator = paginator.WithMaxItems(mi);
            }

            var expected = pages.Take(maxPages ?? int.MaxValue).SelectMany(p => p).Take(maxItems ?? int.MaxValue).Take(breakAfter).ToList();
            var seen = new List<int>();
            await foreach (var item in paginator.WithCancellation(Ct))
            {
                if (seen.Count == breakAfter)
                {
                    break;
                }

                seen.Add(item);
            }

            var context = $"seed {seed}, round {round}: {pageCount} pages, prefetch {prefetch}, maxPages {maxPages}, maxItems {maxItems}, break {breakAfter}";
            seen.Should().Equal(expected, context);
            Volatile.Read(ref inFlight).Should().Be(0, "disposal awaits every prefetch ({0})", context);
            requests.Should().BeLessThanOrEqualTo(Math.Max(1, Math.Min(pageCount, maxPages ?? int.MaxValue)), context);
        }
    }

    [Fact]
    public void FromKeyset_NullParseKey_ThrowsArgumentNullException()
    {
        var act = () => Paginator.FromKeyset<string, string>(
            (_, _, _) => Task.FromResult<IReadOnlyList<string>>([]), s => s, "", 10, k => k, null!);

        act.Should().Throw<ArgumentNullException>().WithParameterName("parseKey");
    }
}
