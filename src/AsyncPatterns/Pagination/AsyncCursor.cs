using System.Data;
using System.Data.Common;
using System.Runtime.CompilerServices;

namespace AsyncPatterns.Pagination;

/// <summary>
/// Streams database results in batches, so a large result set never sits in memory at once: from one open
/// <see cref="DbDataReader"/> (a server-side cursor, read with <see cref="DbDataReader.ReadAsync(CancellationToken)"/>),
/// or from keyset queries, one query per batch. Works with any ADO.NET provider.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "VSTHRD200:Use \"Async\" suffix for async methods", Justification = "The library's convention (and the BCL's AsPages/WithCancellation style): Async only on awaitables; IAsyncEnumerable is enumerated, not awaited.")]
public static class AsyncCursor
{
    /// <summary>
    /// Executes <paramref name="command"/> when the enumeration starts and yields its rows in batches of
    /// <paramref name="batchSize"/> (the last batch may be shorter; an empty result yields no batch). A closed connection
    /// is opened for the enumeration and closed after it; the reader is disposed when the enumeration ends, early or not.
    /// </summary>
    /// <typeparam name="T">The type a row is mapped to.</typeparam>
    /// <param name="command">The query; it must stay alive and unshared during the enumeration.</param>
    /// <param name="map">Maps the current row of the reader.</param>
    /// <param name="batchSize">The rows per batch, at least 1.</param>
    /// <param name="cancellationToken">Cancels the enumeration; combined with the token given to <c>WithCancellation</c>.</param>
    /// <returns>The batches; each is a new list the caller may keep.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="command"/> or <paramref name="map"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is less than 1.</exception>
    public static IAsyncEnumerable<IReadOnlyList<T>> ReadBatches<T>(
        DbCommand command, Func<DbDataReader, T> map, int batchSize, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(map);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        return ReadCommandCore(command, map, batchSize, cancellationToken);
    }

    /// <summary>
    /// Yields the remaining rows of an open <paramref name="reader"/> in batches of <paramref name="batchSize"/>
    /// (the last batch may be shorter). The reader stays owned by the caller and is not disposed.
    /// </summary>
    /// <typeparam name="T">The type a row is mapped to.</typeparam>
    /// <param name="reader">The open reader.</param>
    /// <param name="map">Maps the current row of the reader.</param>
    /// <param name="batchSize">The rows per batch, at least 1.</param>
    /// <param name="cancellationToken">Cancels the enumeration; combined with the token given to <c>WithCancellation</c>.</param>
    /// <returns>The batches; each is a new list the caller may keep.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="reader"/> or <paramref name="map"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is less than 1.</exception>
    public static IAsyncEnumerable<IReadOnlyList<T>> ReadBatches<T>(
        DbDataReader reader, Func<DbDataReader, T> map, int batchSize, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(map);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        return ReadReaderCore(reader, map, batchSize, cancellationToken);
    }

    /// <summary>
    /// Yields keyset batches: each batch is one query for the rows whose key is greater than the last key of the batch
    /// before (<c>WHERE key &gt; @last ORDER BY key LIMIT @n</c>), so no connection or cursor stays open between batches
    /// and rows inserted behind the position are never read twice. Stops after a batch shorter than
    /// <paramref name="batchSize"/>.
    /// </summary>
    /// <typeparam name="T">The type of the rows.</typeparam>
    /// <typeparam name="TKey">The type of the key.</typeparam>
    /// <param name="fetchAfter">Fetches one batch: receives the last key (<paramref name="initialKey"/> first), the limit and the cancellation token.</param>
    /// <param name="keySelector">Returns the key of a row.</param>
    /// <param name="initialKey">A key below every key of the table.</param>
    /// <param name="batchSize">The rows per batch, at least 1.</param>
    /// <param name="prefetch">How many batches to query ahead of the one being processed (see <see cref="Paginator{T}.WithPrefetch(int)"/>).</param>
    /// <returns>The batches, fetched lazily.</returns>
    /// <exception cref="ArgumentNullException">A delegate is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is less than 1 or <paramref name="prefetch"/> is negative.</exception>
    public static IAsyncEnumerable<IReadOnlyList<T>> ReadKeysetBatches<T, TKey>(
        Func<TKey, int, CancellationToken, Task<IReadOnlyList<T>>> fetchAfter,
        Func<T, TKey> keySelector,
        TKey initialKey,
        int batchSize,
        int prefetch = 0)
        where TKey : IParsable<TKey>, IFormattable
    {
        ArgumentNullException.ThrowIfNull(fetchAfter);
        ArgumentNullException.ThrowIfNull(keySelector);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(prefetch);
        var pages = Paginator.FromKeyset(fetchAfter, keySelector, initialKey, batchSize).WithPrefetch(prefetch).AsPages();
        return KeysetCore(pages, default);
    }

    private static async IAsyncEnumerable<IReadOnlyList<T>> KeysetCore<T>(
        IAsyncEnumerable<Page<T>> pages, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var page in pages.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (page.Items.Count > 0)
            {
                yield return page.Items;
            }
        }
    }

    private static async IAsyncEnumerable<IReadOnlyList<T>> ReadCommandCore<T>(
        DbCommand command, Func<DbDataReader, T> map, int batchSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var connection = command.Connection ?? throw new InvalidOperationException("The command has no connection.");
        var opened = false;
        if (connection.State == ConnectionState.Closed)
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            opened = true;
        }

        try
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                await foreach (var batch in ReadReaderCore(reader, map, batchSize, cancellationToken).ConfigureAwait(false))
                {
                    yield return batch;
                }
            }
        }
        finally
        {
            if (opened)
            {
                await connection.CloseAsync().ConfigureAwait(false);
            }
        }
    }

    private static async IAsyncEnumerable<IReadOnlyList<T>> ReadReaderCore<T>(
        DbDataReader reader, Func<DbDataReader, T> map, int batchSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var batch = new List<T>(batchSize);
        while (true)
        {
            // Checked here because providers complete ReadAsync as canceled without saying which token did it.
            cancellationToken.ThrowIfCancellationRequested();
            bool read;
            try
            {
                read = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested && ex.CancellationToken != cancellationToken)
            {
                throw new OperationCanceledException(ex.Message, ex, cancellationToken);
            }

            if (!read)
            {
                break;
            }

            batch.Add(map(reader));
            if (batch.Count == batchSize)
            {
                yield return batch;
                batch = new List<T>(batchSize);
            }
        }

        if (batch.Count > 0)
        {
            yield return batch;
        }
    }
}
