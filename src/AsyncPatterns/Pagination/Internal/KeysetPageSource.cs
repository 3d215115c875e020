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
    /// <summary>A caller's resume token must parse: any failure of the parser is wrapped, naming the caller's parameter.</summary>
    public override void ValidateToken(string continuationToken)
    {
        try
        {
            _ = parseKey(continuationToken);
        }
        catch (Exception ex)
        {
            throw new ArgumentException(
                $"The continuation token '{continuationToken}' is not a keyset token of this paginator: {ex.Message}",
                nameof(continuationToken),
                ex);
        }
    }

    public override async Task<Page<T>> FetchAsync(string? continuationToken, int? pageSizeHint, CancellationToken cancellationToken)
    {
        var after = string.IsNullOrEmpty(continuationToken) ? initialKey : ParseOwn(continuationToken);
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

    /// <summary>Parses a token the caller's was already checked against, or one formatted here: a failure is a codec bug.</summary>
    private TKey ParseOwn(string continuationToken)
    {
        try
        {
            return parseKey(continuationToken);
        }
        catch (Exception ex)
        {
            throw new InvalidOperationException(
                $"The keyset parseKey delegate could not parse the continuation token '{continuationToken}' (formatKey and parseKey must round-trip): {ex.Message}",
                ex);
        }
    }
}
