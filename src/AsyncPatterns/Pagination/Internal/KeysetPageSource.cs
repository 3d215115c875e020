namespace AsyncPatterns.Pagination.Internal;

/// <summary>Keyset (seek) pagination; the token is the last key of the previous page, formatted by the caller's codec.</summary>
internal sealed class KeysetPageSource<T, TKey>(
    Func<TKey, int, CancellationToken, Task<IReadOnlyList<T>>> fetchAfter,
    Func<T, TKey> keySelector,
    TKey initialKey,
    int pageSize,
    Func<TKey, string> formatKey,
    Func<string, TKey> parseKey) : PageSource<T>
{
    public override async Task<Page<T>> FetchAsync(string? continuationToken, int? pageSizeHint, CancellationToken cancellationToken)
    {
        var after = string.IsNullOrEmpty(continuationToken) ? initialKey : parseKey(continuationToken);
        var limit = pageSizeHint ?? pageSize;
        var items = await fetchAfter(after, limit, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The keyset fetch delegate returned null.");
        string? next = null;
        if (items.Count >= limit && items.Count > 0)
        {
            next = formatKey(keySelector(items[^1]));
            if (string.IsNullOrEmpty(next))
            {
                throw new InvalidOperationException("The key formatter returned an empty string; keyset tokens must not be empty.");
            }
        }

        return new Page<T>(items, next);
    }
}
