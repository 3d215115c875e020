namespace AsyncPatterns.Pagination;

/// <summary>
/// One page of a paginated source: its items and the continuation token of the page after it.
/// </summary>
/// <typeparam name="T">The type of the items.</typeparam>
/// <remarks>
/// Pass <see cref="ContinuationToken"/> to <see cref="Paginator{T}.AsPages(string?, int?)"/> to resume the enumeration
/// with the page that follows this one. Tokens are opaque: store them as they are, never parse or build them.
/// </remarks>
public sealed class Page<T>
{
    /// <summary>Initializes a new page.</summary>
    /// <param name="items">The items of the page, in source order; the page keeps this reference.</param>
    /// <param name="continuationToken">The token of the next page; <see langword="null"/> or empty on the last page.</param>
    /// <param name="rawResponse">The response the page was read from, or <see langword="null"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="items"/> is <see langword="null"/>.</exception>
    public Page(IReadOnlyList<T> items, string? continuationToken, object? rawResponse = null)
    {
        ArgumentNullException.ThrowIfNull(items);
        Items = items;
        ContinuationToken = continuationToken;
        RawResponse = rawResponse;
    }

    /// <summary>The items of the page, in source order. May be empty on a page that is not the last.</summary>
    public IReadOnlyList<T> Items { get; }

    /// <summary>
    /// The opaque token of the next page, or <see langword="null"/> or empty when this is the last page.
    /// </summary>
    public string? ContinuationToken { get; }

    /// <summary>
    /// The response the page was read from (an <see cref="HttpResponseMessage"/> for
    /// <see cref="Paginator.FromLinkHeader{T}(HttpClient, Uri, System.Text.Json.Serialization.Metadata.JsonTypeInfo{T})"/>, whose
    /// content has already been read and disposed), or <see langword="null"/>.
    /// </summary>
    public object? RawResponse { get; }

    /// <summary>Whether this is the last page: <see cref="ContinuationToken"/> is <see langword="null"/> or empty.</summary>
    public bool IsLastPage => string.IsNullOrEmpty(ContinuationToken);
}
