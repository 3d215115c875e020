using AsyncPatterns.Pagination;

namespace AsyncPatterns.Tests.Pagination;

/// <summary>
/// The contract every paginator kind keeps, run against cursor, page-number, offset, keyset and Link-header
/// paginators over the same backend: items 1..14 in pages of 3 (the last one short, so every kind makes 5 requests).
/// </summary>
public abstract class PaginatorContractTests
{
    protected const int PageSize = 3;
    protected const int ItemCount = 14;
    private const int PageCount = 5;

    private static readonly int[] s_all = [.. Enumerable.Range(1, ItemCount)];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    internal abstract Paginator<int> Create(PagedBackend backend);

    [Fact]
    public async Task GetAsyncEnumerator_BeforeFirstMoveNext_SendsNoRequest()
    {
        var backend = new PagedBackend(ItemCount);
        var enumerator = Create(backend).WithPrefetch(2).GetAsyncEnumerator(Ct);
        await FakeClock.SettleAsync();

        backend.RequestCount.Should().Be(0);
        (await enumerator.MoveNextAsync()).Should().BeTrue();
        backend.RequestCount.Should().BeGreaterThan(0);
        await enumerator.DisposeAsync();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    public async Task Enumerate_AllPages_YieldsEveryItemInOrderWithOneRequestPerPage(int prefetch)
    {
        var backend = new PagedBackend(ItemCount);

        var items = await Create(backend).WithPrefetch(prefetch).CollectAsync(Ct);

        items.Should().Equal(s_all);
        backend.RequestCount.Should().Be(PageCount);
        backend.Requests.Select(r => r.Offset).Should().Equal(0, 3, 6, 9, 12);
    }

    [Fact]
    public async Task AsPages_LastPage_HasNoTokenAndEarlierPagesDo()
    {
        var pages = await Create(new PagedBackend(ItemCount)).AsPages().CollectAsync(Ct);

        pages.Should().HaveCount(PageCount);
        pages[..^1].Should().OnlyContain(p => !p.IsLastPage);
        pages[^1].IsLastPage.Should().BeTrue();
        pages.SelectMany(p => p.Items).Should().Equal(s_all);
    }

    [Fact]
    public async Task AsPages_ResumeFromToken_StartsWithTheNextPage()
    {
        var paginator = Create(new PagedBackend(ItemCount));
        var pages = await paginator.AsPages().CollectAsync(Ct);

        var resumed = await paginator.AsPages(pages[1].ContinuationToken).CollectAsync(Ct);

        resumed.SelectMany(p => p.Items).Should().Equal(Enumerable.Range(7, ItemCount - 6));
    }

    [Fact]
    public async Task Enumerate_Twice_StartsFromTheBeginningEachTime()
    {
        var backend = new PagedBackend(ItemCount);
        var paginator = Create(backend).WithPrefetch(1);

        var first = await paginator.CollectAsync(Ct);
        var second = await paginator.CollectAsync(Ct);

        first.Should().Equal(s_all);
        second.Should().Equal(s_all);
        backend.RequestCount.Should().Be(2 * PageCount);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public async Task WithMaxPages_Limit_FetchesExactlyThatManyPages(int prefetch)
    {
        var backend = new PagedBackend(ItemCount);

        var pages = await Create(backend).WithPrefetch(prefetch).WithMaxPages(2).AsPages().CollectAsync(Ct);

        pages.SelectMany(p => p.Items).Should().Equal(1, 2, 3, 4, 5, 6);
        pages[^1].IsLastPage.Should().BeFalse("the last page keeps its token so the caller can resume");
        backend.RequestCount.Should().Be(2);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public async Task WithMaxItems_Limit_YieldsExactlyThatManyItems(int prefetch)
    {
        var backend = new PagedBackend(ItemCount);
        var paginator = Create(backend).WithPrefetch(prefetch).WithMaxItems(4);

        var items = await paginator.CollectAsync(Ct);
        var pages = await paginator.AsPages().CollectAsync(Ct);

        items.Should().Equal(1, 2, 3, 4);
        pages.Select(p => p.Items.Count).Should().Equal(3, 1);
        pages[^1].IsLastPage.Should().BeTrue();
        backend.RequestCount.Should().Be(4, "two pages per enumeration, none beyond the limit");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public async Task WithMaxItems_LimitOnAPageBoundary_StopsThereAndKeepsTheTokenToResume(int prefetch)
    {
        var backend = new PagedBackend(ItemCount);
        var paginator = Create(backend).WithPrefetch(prefetch).WithMaxItems(2 * PageSize);

        var pages = await paginator.AsPages().CollectAsync(Ct);

        pages.SelectMany(p => p.Items).Should().Equal(1, 2, 3, 4, 5, 6);
        pages.Select(p => p.Items.Count).Should().Equal(PageSize, PageSize);
        pages[^1].IsLastPage.Should().BeFalse("the page was not cut, so its token still leads to the next one");
        backend.RequestCount.Should().Be(2, "no page is fetched past the limit");
    }

    [Fact]
    public async Task WithPrefetch_ReturnsNewInstance_LeavesOriginalUnchanged()
    {
        var original = Create(new PagedBackend(ItemCount));

        var configured = original.WithPrefetch(2).WithMaxPages(3).WithMaxItems(5);

        configured.Should().NotBeSameAs(original);
        (original.Prefetch, original.MaxPages, original.MaxItems).Should().Be((0, (int?)null, (int?)null));
        (configured.Prefetch, configured.MaxPages, configured.MaxItems).Should().Be((2, (int?)3, (int?)5));
        (await original.CollectAsync(Ct)).Should().HaveCount(ItemCount);
    }

    [Fact]
    public async Task WithCancellation_CancelledDuringFetch_ReachesFetchAndSendsNoFurtherRequest()
    {
        var backend = new PagedBackend(ItemCount) { HoldRequests = true };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        // WithCancellation(token) hands the token to GetAsyncEnumerator; the enumerator is driven by hand here.
        var enumerator = Create(backend).AsPages().GetAsyncEnumerator(cts.Token);

        var first = enumerator.MoveNextAsync().AsTask();
        await FakeClock.WaitUntilAsync(() => backend.RequestCount == 1, cancellationToken: Ct);
        first.IsCompleted.Should().BeFalse();
        backend.Release(0);
        (await first.WaitAsync(FakeClock.HangTimeout, Ct)).Should().BeTrue();

        var second = enumerator.MoveNextAsync().AsTask();
        await FakeClock.WaitUntilAsync(() => backend.RequestCount == 2, cancellationToken: Ct);
        await cts.CancelAsync();

        var act = () => second.WaitAsync(FakeClock.HangTimeout, Ct);
        (await act.Should().ThrowAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(cts.Token);
        backend.Requests[1].SawCancellation.Should().BeTrue();
        await enumerator.DisposeAsync();
        backend.RequestCount.Should().Be(2);
    }

    [Fact]
    public async Task GetAsyncEnumerator_AlreadyCancelled_ThrowsWithoutRequest()
    {
        var backend = new PagedBackend(ItemCount);
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        var act = () => Create(backend).CollectAsync(cts.Token);

        (await act.Should().ThrowAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(cts.Token);
        backend.RequestCount.Should().Be(0);
    }

    [Fact]
    public async Task WithPrefetch_FirstPageHandedOut_NextPageRequestedBeforeItIsConsumed()
    {
        var backend = new PagedBackend(ItemCount);
        var enumerator = Create(backend).WithPrefetch(1).GetAsyncEnumerator(Ct);

        (await enumerator.MoveNextAsync()).Should().BeTrue();
        enumerator.Current.Should().Be(1);

        await FakeClock.WaitUntilAsync(() => backend.RequestCount == 2, cancellationToken: Ct);
        backend.Requests[1].Offset.Should().Be(3);
        await enumerator.DisposeAsync();
    }

    [Fact]
    public async Task WithoutPrefetch_NextPage_RequestedOnlyWhenTheConsumerAsks()
    {
        var backend = new PagedBackend(ItemCount);
        var enumerator = Create(backend).GetAsyncEnumerator(Ct);

        for (var i = 0; i < PageSize; i++)
        {
            (await enumerator.MoveNextAsync()).Should().BeTrue();
        }

        await FakeClock.SettleAsync();
        backend.RequestCount.Should().Be(1);
        (await enumerator.MoveNextAsync()).Should().BeTrue();
        backend.RequestCount.Should().Be(2);
        await enumerator.DisposeAsync();
    }

    [Fact]
    public async Task DisposeAsync_BreakWithPrefetchInFlight_CancelsAndAwaitsThem()
    {
        var backend = new PagedBackend(ItemCount) { HoldRequests = true };
        var enumerator = Create(backend).WithPrefetch(2).GetAsyncEnumerator(Ct);

        var first = enumerator.MoveNextAsync().AsTask();
        await FakeClock.WaitUntilAsync(() => backend.RequestCount == 1, cancellationToken: Ct);
        backend.Release(0);
        (await first.WaitAsync(FakeClock.HangTimeout, Ct)).Should().BeTrue();
        await FakeClock.WaitUntilAsync(() => backend.RequestCount == 2, cancellationToken: Ct);
        backend.Release(1);
        await FakeClock.WaitUntilAsync(() => backend.RequestCount == 3, cancellationToken: Ct);

        await enumerator.DisposeAsync().AsTask().WaitAsync(FakeClock.HangTimeout, Ct);

        backend.RequestCount.Should().Be(3, "at most the prefetch depth of extra requests");
        backend.Requests[2].Finished.Should().BeTrue("disposal awaits the prefetch in flight");
        backend.Requests[2].SawCancellation.Should().BeTrue();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    public async Task Enumerate_FetchFails_ErrorSurfacesAfterEveryEarlierItem(int prefetch)
    {
        var backend = new PagedBackend(ItemCount) { FailAtOffset = 6 };
        var seen = new List<int>();

        var act = async () =>
        {
            await foreach (var item in Create(backend).WithPrefetch(prefetch).WithCancellation(Ct))
            {
                seen.Add(item);
            }
        };

        var thrown = await act.Should().ThrowAsync<Exception>();
        thrown.Which.Should().NotBeAssignableTo<OperationCanceledException>();
        seen.Should().Equal(1, 2, 3, 4, 5, 6);
        backend.RequestCount.Should().Be(3, "nothing is requested after the failed page");
    }

    [Theory]
    [InlineData(0, 10, 4, 70)] // N·(L + P) = 5 · 14
    [InlineData(1, 10, 4, 54)] // N·max(L, P) + min(L, P) = 5 · 10 + 4
    [InlineData(0, 4, 10, 70)]
    [InlineData(1, 4, 10, 54)]
    [InlineData(2, 4, 10, 54)]
    public async Task WithPrefetch_LatencyAndProcessing_OverlapOnFakeClock(int prefetch, int latencyMs, int processingMs, int expectedMs)
    {
        var time = FakeClock.Create();
        var backend = new PagedBackend(ItemCount, time) { Latency = TimeSpan.FromMilliseconds(latencyMs) };
        var paginator = Create(backend).WithPrefetch(prefetch);
        var start = time.GetUtcNow();

        // Started inline: it runs until its first fetch waits on the fake clock, so time 0 is the first request.
        var run = ConsumeAsync();
        for (var step = 0; step < 1_000 && !run.IsCompleted; step++)
        {
            // One millisecond at a time, letting every continuation it released register its next timer first.
            time.Advance(TimeSpan.FromMilliseconds(1));
            await FakeClock.SettleAsync();
        }

        await run.WaitAsync(FakeClock.HangTimeout, Ct);

        async Task ConsumeAsync()
        {
            await foreach (var page in paginator.AsPages().WithCancellation(Ct))
            {
                await PaginationTestExtensions.InlineDelay(time, TimeSpan.FromMilliseconds(processingMs), Ct);
            }
        }

        var elapsed = time.GetUtcNow() - start;
        backend.RequestCount.Should().Be(PageCount);
        elapsed.Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(expectedMs));
        elapsed.Should().BeLessThanOrEqualTo(TimeSpan.FromMilliseconds(expectedMs + 2), "the overlap must hold up to a step of the fake clock");
    }

    [Fact]
    public void BadArguments_Throw()
    {
        var paginator = Create(new PagedBackend(ItemCount));

        FluentActions.Invoking(() => paginator.WithPrefetch(-1)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("pages");
        FluentActions.Invoking(() => paginator.WithMaxPages(0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("maxPages");
        FluentActions.Invoking(() => paginator.WithMaxItems(0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("maxItems");
        FluentActions.Invoking(() => paginator.AsPages(pageSizeHint: 0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("pageSizeHint");
    }
}

[Collection(FakeClockTimingCollection.Name)]
public sealed class CursorPaginatorContractTests : PaginatorContractTests
{
    internal override Paginator<int> Create(PagedBackend backend) => PaginationTestExtensions.CursorOver(backend, PageSize);
}

[Collection(FakeClockTimingCollection.Name)]
public sealed class PageNumberPaginatorContractTests : PaginatorContractTests
{
    internal override Paginator<int> Create(PagedBackend backend) =>
        Paginator.FromPageNumber<int>((page, size, ct) => backend.GetAsync((page - 1L) * size, size, ct), PageSize);
}

[Collection(FakeClockTimingCollection.Name)]
public sealed class OffsetPaginatorContractTests : PaginatorContractTests
{
    internal override Paginator<int> Create(PagedBackend backend) =>
        Paginator.FromOffset<int>(backend.GetAsync, PageSize);
}

[Collection(FakeClockTimingCollection.Name)]
public sealed class KeysetPaginatorContractTests : PaginatorContractTests
{
    // Items are their own keys and contiguous from 1, so "key > last" is "offset = last".
    internal override Paginator<int> Create(PagedBackend backend) =>
        Paginator.FromKeyset<int, int>((last, limit, ct) => backend.GetAsync(last, limit, ct), item => item, 0, PageSize);
}

[Collection(FakeClockTimingCollection.Name)]
public sealed class LinkHeaderPaginatorContractTests : PaginatorContractTests
{
    internal override Paginator<int> Create(PagedBackend backend)
    {
        var client = new HttpClient(new BackendHttpHandler(backend)) { BaseAddress = new Uri("http://paged.test/") };
        return Paginator.FromLinkHeader(client, new Uri($"items?offset=0&limit={PageSize}", UriKind.Relative), PaginationJsonContext.Default.Int32);
    }
}

/// <summary>
/// The contract tests measure fake time step by step; run alone, so that other tests cannot starve the thread pool
/// while a step's continuations are still queued.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FakeClockTimingCollection
{
    public const string Name = "Pagination fake-clock timing";
}
