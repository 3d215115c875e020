namespace AsyncPatterns.Pagination.Internal;

internal sealed class CursorPageSource<T>(Func<string?, int?, CancellationToken, Task<Page<T>>> fetchPage) : PageSource<T>
{
    public override Task<Page<T>> FetchAsync(string? continuationToken, int? pageSizeHint, CancellationToken cancellationToken) =>
        fetchPage(continuationToken, pageSizeHint, cancellationToken);
}
