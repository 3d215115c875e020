using System.Globalization;
using AsyncPatterns.Connections;
using AsyncPatterns.Samples.DemoApi;
using Microsoft.Data.Sqlite;

namespace AsyncPatterns.Samples.Showcase;

/// <summary>
/// The items table in an embedded SQLite file, written through an <see cref="AsyncConnectionPool{TConnection}"/>
/// (AsyncPatterns.Connections): at most <see cref="MaxConnections"/> connections, borrowed and returned with <c>await using</c>.
/// </summary>
internal sealed class ItemStore : IAsyncDisposable
{
    /// <summary>The pool's size: SQLite has one writer at a time, so a few connections are plenty.</summary>
    public const int MaxConnections = 4;

    private readonly AsyncConnectionPool<SqliteConnection> _pool;

    private ItemStore(string path, AsyncConnectionPool<SqliteConnection> pool)
    {
        Path = path;
        _pool = pool;
    }

    public string Path { get; }

    public ConnectionPoolStatistics PoolStatistics => _pool.Statistics;

    /// <summary>Creates an empty database file at <paramref name="path"/> (replacing one left there) and its schema.</summary>
    public static async Task<ItemStore> CreateAsync(string path, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        DeleteFiles(path);

        // Pooling=False: the AsyncPatterns pool is the only pool, so its MaxSize is the real limit.
        var connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString();
        var pool = DbConnectionPool.Create(() => new SqliteConnection(connectionString), options =>
        {
            options.Name = "showcase-sqlite";
            options.MaxSize = MaxConnections;
            options.AcquireTimeout = TimeSpan.FromSeconds(30);
        });

        var store = new ItemStore(path, pool);
        try
        {
            // WAL lets readers run beside the one writer; SQLite serializes the writers (Microsoft.Data.Sqlite waits
            // for the lock up to the command timeout instead of failing with SQLITE_BUSY).
            await store.ExecuteAsync(
                """
                PRAGMA journal_mode = WAL;
                CREATE TABLE items (
                    id          INTEGER PRIMARY KEY,  -- a second insert of the same item fails: saved exactly once
                    name        TEXT    NOT NULL,
                    category    TEXT    NOT NULL,
                    price       TEXT    NOT NULL,     -- decimal, as invariant text
                    stock       INTEGER NOT NULL,
                    owner_id    INTEGER NOT NULL,
                    description TEXT    NOT NULL,
                    tags        TEXT    NOT NULL,     -- comma separated
                    saved_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                );
                """,
                cancellationToken);
            return store;
        }
        catch
        {
            await store.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Inserts one item. Waiting for a connection honours <paramref name="cancellationToken"/>; the insert itself, once
    /// started, always finishes, so an item is either saved and counted or not saved at all, even under Ctrl+C.
    /// </summary>
    public async Task SaveAsync(ItemDetails item, CancellationToken cancellationToken)
    {
        await using var lease = await _pool.AcquireAsync(cancellationToken);
        await using var command = lease.Connection.CreateCommand();
        command.CommandText = """
            INSERT INTO items (id, name, category, price, stock, owner_id, description, tags)
            VALUES ($id, $name, $category, $price, $stock, $owner, $description, $tags)
            """;
        command.Parameters.AddWithValue("$id", item.Id);
        command.Parameters.AddWithValue("$name", item.Name);
        command.Parameters.AddWithValue("$category", item.Category);
        command.Parameters.AddWithValue("$price", item.Price.ToString(CultureInfo.InvariantCulture));
        command.Parameters.AddWithValue("$stock", item.Stock);
        command.Parameters.AddWithValue("$owner", item.OwnerId);
        command.Parameters.AddWithValue("$description", item.Description);
        command.Parameters.AddWithValue("$tags", string.Join(',', item.Tags));
        await command.ExecuteNonQueryAsync(CancellationToken.None);
    }

    /// <summary>Reads back every saved id, to check the table against what the job recorded.</summary>
    public async Task<IReadOnlyList<int>> ReadIdsAsync(CancellationToken cancellationToken)
    {
        await using var lease = await _pool.AcquireAsync(cancellationToken);
        await using var command = lease.Connection.CreateCommand();
        command.CommandText = "SELECT id FROM items ORDER BY id";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var ids = new List<int>();
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetInt32(0));
        }

        return ids;
    }

    /// <summary>Closes every connection (the pool waits for leases still out).</summary>
    public ValueTask DisposeAsync() => _pool.DisposeAsync();

    /// <summary>Deletes the database file and its WAL side files.</summary>
    public static void DeleteFiles(string path)
    {
        foreach (var file in new[] { path, path + "-wal", path + "-shm", path + "-journal" })
        {
            File.Delete(file);
        }
    }

    private async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        await using var lease = await _pool.AcquireAsync(cancellationToken);
        await using var command = lease.Connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
