namespace AsyncPatterns.Pagination.Internal;

/// <summary>In-memory pages (a snapshot taken at creation); the token is the next page index in invariant digits.</summary>
internal sealed class InMemoryPageSource<T>(IReadOnlyList<T>[] pages) : PageSource<T>
{
    public override void ValidateToken(string continuationToken) => ParsePosition(continuationToken, "page-index");

    public override Task<Page<T>> FetchAsync(string? continuationToken, int? pageSizeHint, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var index = string.IsNullOrEmpty(continuationToken) ? 0 : ParsePosition(continuationToken, "page-index");
        if (index >= pages.Length)
        {
            return Task.FromResult(new Page<T>(Array.Empty<T>(), null));
        }

        var next = index + 1 < pages.Length ? Format(index + 1) : null;
        return Task.FromResult(new Page<T>(pages[index], next));
    }
}
