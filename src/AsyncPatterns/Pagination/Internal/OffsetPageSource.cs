namespace AsyncPatterns.Pagination.Internal;

/// <summary>Offset/limit pagination; the token is the next offset in invariant digits.</summary>
internal sealed class OffsetPageSource<T>(
    Func<long, int, CancellationToken, Task<IReadOnlyList<T>>> fetchPage, int pageSize) : PageSource<T>
{
    public override void ValidateToken(string continuationToken) => ParsePosition(continuationToken, "offset");

    public override async Task<Page<T>> FetchAsync(string? continuationToken, int? pageSizeHint, CancellationToken cancellationToken)
    {
        var offset = string.IsNullOrEmpty(continuationToken) ? 0 : ParsePosition(continuationToken, "offset");
        var limit = pageSizeHint ?? pageSize;
        var items = await fetchPage(offset, limit, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"The page fetch delegate returned null for offset {offset}.");
        return new Page<T>(items, items.Count < limit ? null : Format(offset + items.Count));
    }
}
