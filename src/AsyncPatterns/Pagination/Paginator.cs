using System.Globalization;
using System.Text.Json.Serialization.Metadata;
using AsyncPatterns.Pagination.Internal;

namespace AsyncPatterns.Pagination;

/// <summary>
/// Factories of <see cref="Paginator{T}"/> for the pagination styles APIs and databases use.
/// </summary>
/// <remarks>
/// Continuation tokens are opaque strings. For page-number, offset and in-memory paginators they are the serialized
/// position; for keyset paginators, the formatted last key; for Link-header paginators, the next page's URI; for cursor
/// paginators, the source's own cursor. Only pass a paginator tokens it produced.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "VSTHRD200:Use \"Async\" suffix for async methods", Justification = "The library's convention (and the BCL's AsPages/WithCancellation style): Async only on awaitables; IAsyncEnumerable is enumerated, not awaited.")]
public static class Paginator
{
    /// <summary>
    /// Creates a paginator over a source with continuation tokens (cursors): the delegate receives the token of the
    /// page to fetch (<see langword="null"/> for the first page) and returns the page with the token of the next one.
    /// </summary>
    /// <typeparam name="T">The type of the items.</typeparam>
    /// <param name="fetchPage">
    /// Fetches one page: receives the token (<see langword="null"/> first), the page size hint given to
    /// <see cref="Paginator{T}.AsPages(string?, int?)"/> (or <see langword="null"/>), and the enumeration's cancellation token.
    /// </param>
    /// <returns>The paginator.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="fetchPage"/> is <see langword="null"/>.</exception>
    public static Paginator<T> FromCursor<T>(Func<string?, int?, CancellationToken, Task<Page<T>>> fetchPage)
    {
        ArgumentNullException.ThrowIfNull(fetchPage);
        return new Paginator<T>(new CursorPageSource<T>(fetchPage));
    }

    /// <summary>
    /// Creates a paginator over a page-number source (<c>?page=P&amp;size=S</c>). It stops after an empty page or a
    /// page shorter than <paramref name="pageSize"/>. The continuation token is the next page number. A full page
    /// numbered <see cref="int.MaxValue"/> has no next page number: the enumeration then ends with an
    /// <see cref="OverflowException"/> instead of fetching a wrapped-around page.
    /// </summary>
    /// <typeparam name="T">The type of the items.</typeparam>
    /// <param name="fetchPage">Fetches one page: receives the page number, the page size and the cancellation token.</param>
    /// <param name="pageSize">The page size, at least 1.</param>
    /// <param name="firstPage">The number of the first page: 1 (the default) or 0 for zero-based APIs.</param>
    /// <returns>The paginator.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="fetchPage"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pageSize"/> is less than 1 or <paramref name="firstPage"/> is negative.</exception>
    public static Paginator<T> FromPageNumber<T>(
        Func<int, int, CancellationToken, Task<IReadOnlyList<T>>> fetchPage, int pageSize, int firstPage = 1)
    {
        ArgumentNullException.ThrowIfNull(fetchPage);
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(firstPage);
        return new Paginator<T>(new PageNumberPageSource<T>(fetchPage, pageSize, firstPage));
    }

    /// <summary>
    /// Creates a paginator over an offset/limit source (<c>OFFSET o LIMIT n</c>). It stops after a page shorter than the
    /// limit. The continuation token is the next offset. Offsets cost the source a scan of every skipped row: prefer
    /// <see cref="FromKeyset{T, TKey}(Func{TKey, int, CancellationToken, Task{IReadOnlyList{T}}}, Func{T, TKey}, TKey, int, Func{TKey, string}, Func{string, TKey})"/>
    /// for large tables.
    /// </summary>
    /// <typeparam name="T">The type of the items.</typeparam>
    /// <param name="fetchPage">Fetches one page: receives the offset, the limit and the cancellation token.</param>
    /// <param name="pageSize">The limit, at least 1.</param>
    /// <returns>The paginator.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="fetchPage"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pageSize"/> is less than 1.</exception>
    public static Paginator<T> FromOffset<T>(Func<long, int, CancellationToken, Task<IReadOnlyList<T>>> fetchPage, int pageSize)
    {
        ArgumentNullException.ThrowIfNull(fetchPage);
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        return new Paginator<T>(new OffsetPageSource<T>(fetchPage, pageSize));
    }

    /// <summary>
    /// Creates a paginator over a GitHub-style HTTP API: each response is a JSON array of items and carries a
    /// <c>Link</c> header whose <c>rel="next"</c> entry is the next page; the sequence ends at a response without one.
    /// Items are read with <paramref name="itemTypeInfo"/> (source-generated JSON, trimming- and AOT-safe).
    /// A response that is not a success throws <see cref="HttpRequestException"/> when the consumer reaches it, with its
    /// <see cref="HttpRequestException.StatusCode"/> set and a message naming the page's URL (user info redacted) and status.
    /// </summary>
    /// <remarks>
    /// The <c>Link</c> header is parsed as RFC 8288 defines it: quoted parameter values may hold commas, semicolons and
    /// angle brackets, and only the first <c>rel</c> of a link counts. A <c>next</c> link on another origin (scheme, host
    /// and port) than <paramref name="firstPageUri"/> is never followed, because the client would send its default
    /// headers (such as <c>Authorization</c>) there: the page that carries it throws <see cref="HttpRequestException"/>
    /// (<see cref="HttpRequestError.InvalidResponse"/>) naming both origins, after the items of the pages before it, as does a
    /// <c>next</c> target that is not a URI. To follow links across origins deliberately, use
    /// <see cref="FromCursor{T}(Func{string?, int?, CancellationToken, Task{Page{T}}})"/> with a client of your choice.
    /// Retries, a rate limit and a timeout per page are the client's: give it the per-attempt pipeline
    /// (<see cref="AttemptPipelineHttpClientBuilderExtensions.AddAttemptPipeline(Microsoft.Extensions.DependencyInjection.IHttpClientBuilder, Action{Http.AttemptPipelineOptions})"/>,
    /// or <see cref="Retries.HttpRetryResiliencePipelineBuilderExtensions.AddHttpRetry"/> in <c>AddResilienceHandler</c>);
    /// a page that still fails after its retries throws as above.
    /// </remarks>
    /// <typeparam name="T">The type of the items.</typeparam>
    /// <param name="httpClient">The client that sends the requests.</param>
    /// <param name="firstPageUri">The URI of the first page (relative URIs are resolved by the client's base address).</param>
    /// <param name="itemTypeInfo">The JSON metadata of <typeparamref name="T"/>, from a <c>JsonSerializerContext</c>.</param>
    /// <returns>
    /// The paginator; its continuation tokens are absolute URIs, and <see cref="Paginator{T}.AsPages(string?, int?)"/> accepts
    /// only tokens on the first page's scheme, host and port (the client would send its default headers there).
    /// </returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static Paginator<T> FromLinkHeader<T>(HttpClient httpClient, Uri firstPageUri, JsonTypeInfo<T> itemTypeInfo)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(firstPageUri);
        ArgumentNullException.ThrowIfNull(itemTypeInfo);
        if (!firstPageUri.IsAbsoluteUri)
        {
            if (httpClient.BaseAddress is null)
            {
                throw new ArgumentException("A relative first page URI needs an HttpClient with a BaseAddress.", nameof(firstPageUri));
            }

            firstPageUri = new Uri(httpClient.BaseAddress, firstPageUri);
        }

        return new Paginator<T>(new LinkHeaderPageSource<T>(httpClient, firstPageUri, itemTypeInfo));
    }

    /// <summary>
    /// Creates a keyset (seek) paginator: the delegate fetches the items whose key is greater than the last key seen,
    /// in key order (<c>WHERE key &gt; @last ORDER BY key LIMIT @n</c>). Unlike offsets, each page costs one index
    /// seek however deep it is, and rows inserted or deleted behind the position neither repeat nor skip items.
    /// It stops after a page shorter than the limit. The continuation token is the formatted last key.
    /// </summary>
    /// <typeparam name="T">The type of the items.</typeparam>
    /// <typeparam name="TKey">The type of the key.</typeparam>
    /// <param name="fetchAfter">Fetches one page: receives the last key (<paramref name="initialKey"/> first), the limit and the cancellation token.</param>
    /// <param name="keySelector">Returns the key of an item.</param>
    /// <param name="initialKey">A key below every key of the source (for example 0 or <see cref="long.MinValue"/>).</param>
    /// <param name="pageSize">The limit, at least 1.</param>
    /// <param name="formatKey">Formats a key as a continuation token (not empty).</param>
    /// <param name="parseKey">Parses a continuation token produced by <paramref name="formatKey"/>.</param>
    /// <returns>The paginator.</returns>
    /// <exception cref="ArgumentNullException">A delegate is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pageSize"/> is less than 1.</exception>
    public static Paginator<T> FromKeyset<T, TKey>(
        Func<TKey, int, CancellationToken, Task<IReadOnlyList<T>>> fetchAfter,
        Func<T, TKey> keySelector,
        TKey initialKey,
        int pageSize,
        Func<TKey, string> formatKey,
        Func<string, TKey> parseKey)
    {
        ArgumentNullException.ThrowIfNull(fetchAfter);
        ArgumentNullException.ThrowIfNull(keySelector);
        ArgumentNullException.ThrowIfNull(formatKey);
        ArgumentNullException.ThrowIfNull(parseKey);
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        return new Paginator<T>(new KeysetPageSource<T, TKey>(fetchAfter, keySelector, initialKey, pageSize, formatKey, parseKey));
    }

    /// <summary>
    /// Creates a keyset (seek) paginator for keys that format and parse themselves (numbers, <see cref="Guid"/>,
    /// dates): tokens use the invariant culture. See the overload with a codec for the semantics.
    /// </summary>
    /// <typeparam name="T">The type of the items.</typeparam>
    /// <typeparam name="TKey">The type of the key.</typeparam>
    /// <param name="fetchAfter">Fetches one page: receives the last key (<paramref name="initialKey"/> first), the limit and the cancellation token.</param>
    /// <param name="keySelector">Returns the key of an item.</param>
    /// <param name="initialKey">A key below every key of the source.</param>
    /// <param name="pageSize">The limit, at least 1.</param>
    /// <returns>The paginator.</returns>
    /// <exception cref="ArgumentNullException">A delegate is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pageSize"/> is less than 1.</exception>
    public static Paginator<T> FromKeyset<T, TKey>(
        Func<TKey, int, CancellationToken, Task<IReadOnlyList<T>>> fetchAfter,
        Func<T, TKey> keySelector,
        TKey initialKey,
        int pageSize)
        where TKey : IParsable<TKey>, IFormattable =>
        FromKeyset(
            fetchAfter,
            keySelector,
            initialKey,
            pageSize,
            static key => key.ToString(null, CultureInfo.InvariantCulture),
            static token => TKey.Parse(token, CultureInfo.InvariantCulture));

    /// <summary>
    /// Creates a paginator over pages held in memory, for tests of code that consumes paginators. The pages are
    /// copied when the paginator is created; the continuation token is the next page index.
    /// </summary>
    /// <typeparam name="T">The type of the items.</typeparam>
    /// <param name="pages">The pages, in order; an empty list makes an empty sequence of one empty page.</param>
    /// <returns>The paginator.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="pages"/> or one of its pages is <see langword="null"/>.</exception>
    public static Paginator<T> FromPages<T>(IEnumerable<IReadOnlyList<T>> pages)
    {
        ArgumentNullException.ThrowIfNull(pages);
        var snapshot = pages.Select(static page => page is null
            ? throw new ArgumentNullException(nameof(pages), "A page is null.")
            : (IReadOnlyList<T>)Array.AsReadOnly(page.ToArray())).ToArray();
        return new Paginator<T>(new InMemoryPageSource<T>(snapshot));
    }
}
