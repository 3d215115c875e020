using System.Data.Common;
using AsyncPatterns.Pagination;
using Microsoft.Data.Sqlite;

namespace AsyncPatterns.IntegrationTests.Pagination;

/// <summary>
/// Keyset pagination and database cursors over a real SQLite database of 100,000 rows with even keys 2..200,000,
/// while another connection inserts odd keys behind the reader.
/// </summary>
public sealed class PaginatorSqliteTests : IAsyncLifetime
{
    private const int RowCount = 100_000;
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"asyncpatterns-pagination-{Guid.NewGuid():N}.db");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string ConnectionString => new SqliteConnectionStringBuilder { DataSource = _path, Pooling = false }.ToString();

    private static IEnumerable<long> OriginalKeys => Enumerable.Range(1, RowCount).Select(i => 2L * i);

    public async ValueTask InitializeAsync()
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync(Ct);
        await using (var pragma = connection.CreateCommand())
        {
            pragma.CommandText = "PRAGMA journal_mode=WAL; CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);";
            await pragma.ExecuteNonQueryAsync(Ct);
        }

        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(Ct);
        await using var insert = connection.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = "INSERT INTO items (id, name) VALUES ($id, $name)";
        var id = insert.Parameters.Add("$id", SqliteType.Integer);
        var name = insert.Parameters.Add("$name", SqliteType.Text);
        await insert.PrepareAsync(Ct);
        foreach (var key in OriginalKeys)
        {
            id.Value = key;
            name.Value = "row";
            await insert.ExecuteNonQueryAsync(Ct);
        }

        await transaction.CommitAsync(Ct);
    }

    public ValueTask DisposeAsync()
    {
        foreach (var file in new[] { _path, _path + "-wal", _path + "-shm" })
        {
            File.Delete(file);
        }

        return ValueTask.CompletedTask;
    }

    private static async Task InsertAsync(SqliteConnection connection, long key)
    {
        await using var insert = connection.CreateCommand();
        insert.CommandText = "INSERT INTO items (id, name) VALUES ($id, 'behind')";
        insert.Parameters.AddWithValue("$id", key);
        await insert.ExecuteNonQueryAsync(Ct);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public async Task FromKeyset_RowsInsertedBehindTheCursor_ReturnsEveryRowOnceInKeyOrder(int prefetch)
    {
        await using var reader = new SqliteConnection(ConnectionString);
        await reader.OpenAsync(Ct);
        await using var writer = new SqliteConnection(ConnectionString);
        await writer.OpenAsync(Ct);
        await using var query = reader.CreateCommand();
        query.CommandText = "SELECT id FROM items WHERE id > $last ORDER BY id LIMIT $limit";
        var last = query.Parameters.Add("$last", SqliteType.Integer);
        var limit = query.Parameters.Add("$limit", SqliteType.Integer);

        var paginator = Paginator.FromKeyset<long, long>(
            async (after, count, ct) =>
            {
                last.Value = after;
                limit.Value = count;
                var page = new List<long>(count);
                await using var rows = await query.ExecuteReaderAsync(ct);
                while (await rows.ReadAsync(ct))
                {
                    page.Add(rows.GetInt64(0));
                }

                return page;
            },
            key => key,
            initialKey: 0L,
            pageSize: 1_000).WithPrefetch(prefetch);

        var keys = new List<long>(RowCount);
        await foreach (var page in paginator.AsPages().WithCancellation(Ct))
        {
            keys.AddRange(page.Items);
            if (page.Items.Count > 0)
            {
                await InsertAsync(writer, page.Items[^1] - 1);
            }
        }

        keys.Should().Equal(OriginalKeys);
    }

    [Fact]
    public async Task ReadBatches_CommandWhileRowsAreInsertedBehind_ReturnsEveryRowOnceInKeyOrder()
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await using var writer = new SqliteConnection(ConnectionString);
        await writer.OpenAsync(Ct);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT id FROM items ORDER BY id";

        var keys = new List<long>(RowCount);
        var batches = 0;
        await foreach (var batch in AsyncCursor.ReadBatches(command, row => row.GetInt64(0), 5_000, Ct))
        {
            batches++;
            keys.AddRange(batch);
            await InsertAsync(writer, batch[^1] - 1);
        }

        keys.Should().Equal(OriginalKeys);
        batches.Should().Be(RowCount / 5_000);
        connection.State.Should().Be(System.Data.ConnectionState.Closed, "the cursor closes the connection it opened");
    }

    [Fact]
    public async Task ReadKeysetBatches_Table_ReturnsEveryRowOnceInKeyOrder()
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync(Ct);

        var keys = new List<long>(RowCount);
        await foreach (var batch in AsyncCursor.ReadKeysetBatches<long, long>(
            async (after, count, ct) =>
            {
                await using var query = connection.CreateCommand();
                query.CommandText = "SELECT id FROM items WHERE id > $last ORDER BY id LIMIT $limit";
                query.Parameters.AddWithValue("$last", after);
                query.Parameters.AddWithValue("$limit", count);
                var page = new List<long>(count);
                await using DbDataReader rows = await query.ExecuteReaderAsync(ct);
                while (await rows.ReadAsync(ct))
                {
                    page.Add(rows.GetInt64(0));
                }

                return page;
            },
            key => key,
            0L,
            batchSize: 7_000,
            prefetch: 1).WithCancellation(Ct))
        {
            keys.AddRange(batch);
        }

        keys.Should().Equal(OriginalKeys);
    }
}
