namespace AsyncPatterns.Pagination.Internal;

/// <summary>Fetches one page given the token of the page (<see langword="null"/> for the first page).</summary>
internal abstract class PageSource<T>
{
    public abstract Task<Page<T>> FetchAsync(string? continuationToken, int? pageSizeHint, CancellationToken cancellationToken);

    /// <summary>Throws <see cref="ArgumentException"/> when a caller's resume token cannot belong to this source.</summary>
    public virtual void ValidateToken(string continuationToken)
    {
    }

    protected static string Format(long value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    protected static long ParsePosition(string continuationToken, string kind)
    {
        if (!long.TryParse(continuationToken, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value))
        {
            throw new ArgumentException($"The continuation token '{continuationToken}' is not a {kind} token of this paginator.", nameof(continuationToken));
        }

        return value;
    }
}
