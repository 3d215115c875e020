using System.Runtime.CompilerServices;
using AsyncPatterns.Pagination.Internal;

namespace AsyncPatterns.Pagination;

/// <summary>
/// A lazily fetched, paginated sequence: enumerate it for the items, or call <see cref="AsPages(string?, int?)"/> for
/// the pages and their continuation tokens. Create one with the factories of <see cref="Paginator"/>.
/// </summary>
/// <typeparam name="T">The type of the items.</typeparam>
/// <remarks>
/// <para>
/// Instances are immutable: <see cref="WithPrefetch"/>, <see cref="WithMaxPages"/> and <see cref="WithMaxItems"/>
/// return new paginators, and every enumeration starts over from the first page (or the token it is given) with its
/// own state, so one instance may be enumerated any number of times, also concurrently.
/// </para>
/// <para>
/// Nothing is fetched before the first <c>MoveNextAsync</c>. Pages are fetched one at a time, in order, each with the
/// token the previous one returned; the sequence ends at a page whose token is <see langword="null"/> or empty. A page
/// that is empty but has a token does not end it. A source that returns the token it was just asked with fails the
/// enumeration with <see cref="InvalidOperationException"/> instead of looping.
/// </para>
/// <para>
/// The token given to <c>WithCancellation</c> or <c>GetAsyncEnumerator</c> reaches every fetch. Cancellation surfaces
/// as <see cref="OperationCanceledException"/> carrying that token, and no request is started after it.
/// A fetch error surfaces when the consumer reaches the failed page, after every item of the pages before it.
/// </para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "VSTHRD200:Use \"Async\" suffix for async methods", Justification = "The library's convention (and the BCL's AsPages/WithCancellation style): Async only on awaitables; IAsyncEnumerable is enumerated, not awaited.")]
public sealed class Paginator<T> : IAsyncEnumerable<T>
{
    private readonly PageSource<T> _source;

    internal Paginator(PageSource<T> source, int prefetch = 0, int? maxPages = null, int? maxItems = null)
    {
        _source = source;
        Prefetch = prefetch;
        MaxPages = maxPages;
        MaxItems = maxItems;
    }

    /// <summary>How many pages are fetched ahead of the page being consumed.</summary>
    /// <value>0 by default: the next page is requested when the consumer asks for it.</value>
    public int Prefetch { get; }

    /// <summary>The most pages an enumeration fetches, or <see langword="null"/> for no limit.</summary>
    /// <value><see langword="null"/> by default.</value>
    public int? MaxPages { get; }

    /// <summary>The most items an enumeration yields, or <see langword="null"/> for no limit.</summary>
    /// <value><see langword="null"/> by default.</value>
    public int? MaxItems { get; }

    /// <summary>
    /// Returns a paginator that requests up to <paramref name="pages"/> pages ahead of the page being consumed: page
    /// N+1 is requested as soon as page N is handed to the consumer, so fetching overlaps processing. At most
    /// <paramref name="pages"/> pages beyond the current one are held or in flight, so memory stays bounded by page size
    /// × (1 + <paramref name="pages"/>). Leaving an enumeration early cancels the prefetches in flight and awaits them.
    /// </summary>
    /// <param name="pages">The prefetch depth; 0 turns prefetching off.</param>
    /// <returns>A new paginator; this one is unchanged.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pages"/> is negative.</exception>
    public Paginator<T> WithPrefetch(int pages = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(pages);
        return new Paginator<T>(_source, pages, MaxPages, MaxItems);
    }

    /// <summary>
    /// Returns a paginator that fetches at most <paramref name="maxPages"/> pages per enumeration (no request beyond
    /// them, prefetches included). The last page keeps its continuation token, so the caller can resume after it.
    /// </summary>
    /// <param name="maxPages">The page limit, at least 1.</param>
    /// <returns>A new paginator; this one is unchanged.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxPages"/> is less than 1.</exception>
    public Paginator<T> WithMaxPages(int maxPages)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPages, 1);
        return new Paginator<T>(_source, Prefetch, maxPages, MaxItems);
    }

    /// <summary>
    /// Returns a paginator that yields at most <paramref name="maxItems"/> items per enumeration and requests no page
    /// once they are reached. A page cut short by the limit is the last one and has a <see langword="null"/>
    /// continuation token (resuming after a partial page would skip items).
    /// </summary>
    /// <param name="maxItems">The item limit, at least 1.</param>
    /// <returns>A new paginator; this one is unchanged.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxItems"/> is less than 1.</exception>
    public Paginator<T> WithMaxItems(int maxItems)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxItems, 1);
        return new Paginator<T>(_source, Prefetch, MaxPages, maxItems);
    }

    /// <summary>
    /// Returns the pages of the sequence, starting with the page that <paramref name="continuationToken"/> designates.
    /// Use <c>WithCancellation</c> on the result to pass a token: it reaches every fetch.
    /// </summary>
    /// <param name="continuationToken">
    /// The <see cref="Page{T}.ContinuationToken"/> of a page seen earlier, to resume with the page after it; <see langword="null"/>
    /// or empty to start from the first page. Tokens are opaque.
    /// </param>
    /// <param name="pageSizeHint">
    /// The page size to ask for, or <see langword="null"/> for the paginator's own. Cursor, offset and keyset sources honour it;
    /// page-number and Link-header sources ignore it (their positions depend on a fixed size).
    /// </param>
    /// <returns>The pages, fetched lazily.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pageSizeHint"/> is less than 1.</exception>
    /// <exception cref="ArgumentException"><paramref name="continuationToken"/> cannot be a token of this paginator.</exception>
    public IAsyncEnumerable<Page<T>> AsPages(string? continuationToken = null, int? pageSizeHint = null)
    {
        if (pageSizeHint is { } hint)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(hint, 1, nameof(pageSizeHint));
        }

        if (!string.IsNullOrEmpty(continuationToken))
        {
            _source.ValidateToken(continuationToken);
        }

        return PagesCore(string.IsNullOrEmpty(continuationToken) ? null : continuationToken, pageSizeHint, default);
    }

    /// <summary>Returns an enumerator over the items of every page, in order.</summary>
    /// <param name="cancellationToken">Cancels the enumeration; reaches every fetch.</param>
    /// <returns>The enumerator.</returns>
    public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        ItemsCore(default).GetAsyncEnumerator(cancellationToken);

    private async IAsyncEnumerable<T> ItemsCore([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var page in PagesCore(null, null, cancellationToken).ConfigureAwait(false))
        {
            var items = page.Items;
            for (var i = 0; i < items.Count; i++)
            {
                yield return items[i];
            }
        }
    }

    private async IAsyncEnumerable<Page<T>> PagesCore(
        string? continuationToken, int? pageSizeHint, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var run = new Run(this, pageSizeHint, stop.Token);

        // The pending queue holds the fetches of the pages after the current one, each chained on the one before it
        // (a page's request needs the previous page's token). With prefetch d it holds up to d of them.
        var pending = new Queue<Task<Step?>>();
        var tail = Task.FromResult<Step?>(Step.Start(continuationToken));
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (pending.Count == 0)
                {
                    tail = run.NextAsync(tail);
                    pending.Enqueue(tail);
                }

                Step? step;
                try
                {
                    step = await pending.Dequeue().ConfigureAwait(false);
                }
                catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested && ex.CancellationToken != cancellationToken)
                {
                    throw new OperationCanceledException(ex.Message, ex, cancellationToken);
                }

                if (step is null)
                {
                    yield break;
                }

                while (pending.Count < Prefetch && !run.IsLast(step))
                {
                    tail = run.NextAsync(tail);
                    pending.Enqueue(tail);
                }

                yield return step.Page!;
                if (run.IsLast(step))
                {
                    yield break;
                }
            }
        }
        finally
        {
            if (pending.Count > 0)
            {
                // Leaving early (break, failure, cancellation): stop the prefetches and wait for them, observing their outcome.
                await stop.CancelAsync().ConfigureAwait(false);
                foreach (var task in pending)
                {
                    await ((Task)task).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    _ = task.Exception; // Marks a fault as observed: it belongs to a page nobody asked for.
                }
            }
        }
    }

    /// <summary>The state of one fetched page: the page, the token it was requested with, and running totals.</summary>
    private sealed class Step
    {
        private Step(Page<T>? page, string? requestToken, int pages, int items)
        {
            Page = page;
            RequestToken = requestToken;
            Pages = pages;
            Items = items;
        }

        public Page<T>? Page { get; }

        public string? RequestToken { get; }

        public int Pages { get; }

        public int Items { get; }

        public string? NextToken => Page is null ? RequestToken : Page.ContinuationToken;

        public static Step Start(string? token) => new(null, token, 0, 0);

        public static Step Next(Page<T> page, string? requestToken, Step previous) =>
            new(page, requestToken, previous.Pages + 1, previous.Items + page.Items.Count);
    }

    /// <summary>One enumeration: the settings it started with and its cancellation token.</summary>
    private sealed class Run(Paginator<T> paginator, int? pageSizeHint, CancellationToken cancellationToken)
    {
        public bool IsLast(Step step) =>
            step.Page is not null
            && (step.Page.IsLastPage
                || step.Pages >= paginator.MaxPages
                || step.Items >= paginator.MaxItems);

        public async Task<Step?> NextAsync(Task<Step?> previousTask)
        {
            var previous = await previousTask.ConfigureAwait(false);
            if (previous is null || IsLast(previous))
            {
                return null;
            }

            cancellationToken.ThrowIfCancellationRequested();
            var token = previous.NextToken;
            var page = await paginator._source.FetchAsync(token, pageSizeHint, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException("The page fetch delegate returned null instead of a page.");
            if (token is not null && string.Equals(page.ContinuationToken, token, StringComparison.Ordinal))
            {
                throw new InvalidOperationException(
                    $"The source returned the continuation token '{token}' for the page requested with that same token; "
                    + "following it would fetch the same page forever.");
            }

            if (paginator.MaxItems is { } maxItems && previous.Items + page.Items.Count > maxItems)
            {
                var keep = maxItems - previous.Items;
                var items = new T[keep];
                for (var i = 0; i < keep; i++)
                {
                    items[i] = page.Items[i];
                }

                page = new Page<T>(items, null, page.RawResponse);
            }

            return Step.Next(page, token, previous);
        }
    }
}
