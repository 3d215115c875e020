namespace AsyncPatterns.Pagination.Internal;

/// <summary>Page-number pagination; the token is the next page number in invariant digits.</summary>
internal sealed class PageNumberPageSource<T>(
    Func<int, int, CancellationToken, Task<IReadOnlyList<T>>> fetchPage, int pageSize, int firstPage) : PageSource<T>
{
    public override void ValidateToken(string continuationToken)
    {
        if (ParsePosition(continuationToken, "page-number") > int.MaxValue)
        {
            throw new ArgumentException(
                $"The continuation token '{continuationToken}' is not a page-number token of this paginator (page numbers are at most {int.MaxValue}).",
                nameof(continuationToken));
        }
    }

    public override async Task<Page<T>> FetchAsync(string? continuationToken, int? pageSizeHint, CancellationToken cancellationToken)
    {
        var page = string.IsNullOrEmpty(continuationToken) ? firstPage : checked((int)ParsePosition(continuationToken, "page-number"));
        var items = await fetchPage(page, pageSize, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"The page fetch delegate returned null for page {page}.");
        return new Page<T>(items, items.Count < pageSize ? null : Format(page + 1L));
    }
}
