// In Python's asyncio, an async context manager that opens a connection and always closes it:
//
//   class AsyncDatabaseConnection:
//       async def __aenter__(self):
//           self.conn = await self._connect()
//           return self.conn
//       async def __aexit__(self, exc_type, exc_val, exc_tb):
//           await self.conn.close()
//
//   async def fetch_data():
//       async with AsyncDatabaseConnection() as conn:
//           # Connection automatically closed after block
//           return await conn.get("SELECT * FROM users")
//
// In C#, `await using` is `async with`. Opening a connection per query is what the Python version does; a pool does better:
// `await using var lease = await pool.AcquireAsync()` borrows an open connection and gives it back on the way out of
// the block, on every path (an exception, a cancellation), and disposing the pool closes every connection.
// DbConnectionPool.Create pools any ADO.NET provider; here SQLite on a temporary file, with SQLite's own pooling off.
//   dotnet run --project samples/Connections   (about 2 s)
using AsyncPatterns.Connections;
using Microsoft.Data.Sqlite;

const int Queries = 200;
const int MaxSize = 3;
var path = Path.Combine(Path.GetTempPath(), $"asyncpatterns-connections-{Environment.ProcessId}.db");
var opened = 0;
var closed = 0;

try
{
    // The pool: at most MaxSize open connections, each a fresh SqliteConnection that counts when it opens and closes.
    var pool = DbConnectionPool.Create(
        () =>
        {
            var connection = new SqliteConnection($"Data Source={path};Pooling=False");
            connection.StateChange += (_, change) => _ = change.CurrentState switch
            {
                System.Data.ConnectionState.Open => Interlocked.Increment(ref opened),
                System.Data.ConnectionState.Closed => Interlocked.Increment(ref closed),
                _ => 0,
            };
            return connection;
        },
        options => options.MaxSize = MaxSize);

    await using (pool)
    {
        await using (var lease = await pool.AcquireAsync())
        {
            await using var setup = lease.Connection.CreateCommand();
            setup.CommandText = """
                CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
                INSERT INTO users (name) VALUES ('Ada'), ('Grace'), ('Linus'), ('Barbara');
                """;
            await setup.ExecuteNonQueryAsync();
        }

        // 1. fetch_data: borrow a connection, query, give it back (still open, for the next caller).
        Console.WriteLine("1. fetch_data: borrow a connection, query, give it back");
        var names = await FetchDataAsync(pool);
        Console.WriteLine($"   users: {string.Join(", ", names)}");
        Console.WriteLine($"   pool: {pool.Statistics}");

        // 2. Many concurrent callers share the few connections: the others wait for one to come back.
        Console.WriteLine();
        Console.WriteLine($"2. {Queries} concurrent fetch_data calls share at most {MaxSize} connections");
        var all = await Task.WhenAll(Enumerable.Range(0, Queries).Select(_ => FetchDataAsync(pool, work: TimeSpan.FromMilliseconds(20))));
        Console.WriteLine($"   {all.Length} queries, each returned {string.Join(" or ", all.Select(result => result.Count).Distinct())} users; {opened} connections opened");
        Console.WriteLine($"   pool: {pool.Statistics}");

        // 3. A query that fails inside the block: `await using` gives the connection back anyway.
        Console.WriteLine();
        Console.WriteLine("3. A query that fails inside the block");
        try
        {
            await using var lease = await pool.AcquireAsync();
            await using var command = lease.Connection.CreateCommand();
            command.CommandText = "SELECT * FROM no_such_table";
            await command.ExecuteReaderAsync();
        }
        catch (SqliteException e)
        {
            Console.WriteLine($"   failed: {e.Message}");
        }

        Console.WriteLine($"   pool: {pool.Statistics}");
    }

    // 4. Disposing the pool closes every connection it opened.
    Console.WriteLine();
    Console.WriteLine("4. Disposing the pool");
    Console.WriteLine($"   {opened} connections opened, {closed} closed");
    Console.WriteLine($"   pool: {pool.Statistics}");
}
finally
{
    File.Delete(path);
}

// The .NET form of Python's fetch_data: `await using` returns the connection to the pool when the block ends, however it ends.
static async Task<List<string>> FetchDataAsync(AsyncConnectionPool<SqliteConnection> pool, TimeSpan work = default)
{
    await using var lease = await pool.AcquireAsync();
    await Task.Delay(work); // some slower work while holding the connection
    await using var command = lease.Connection.CreateCommand();
    command.CommandText = "SELECT name FROM users ORDER BY id";
    await using var reader = await command.ExecuteReaderAsync();
    var names = new List<string>();
    while (await reader.ReadAsync())
    {
        names.Add(reader.GetString(0));
    }

    return names;
}
