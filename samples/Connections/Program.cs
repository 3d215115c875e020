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
//   dotnet run --project samples/Connections            (about 2 s)
//   dotnet run --project samples/Connections -- --smoke (under a second)
using AsyncPatterns.Connections;
using Microsoft.Data.Sqlite;

if (args.Any(arg => arg != "--smoke"))
{
    Console.Error.WriteLine("usage: Connections [--smoke]");
    return 2;
}

var smoke = args.Contains("--smoke");
var queries = smoke ? 20 : 200;
const int MaxSize = 3;
var path = Path.Combine(Path.GetTempPath(), $"asyncpatterns-connections-{Environment.ProcessId}.db");
var opened = 0;
var closed = 0;
var ok = true;

try
{
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

        Console.WriteLine("1. fetch_data: borrow a connection, query, give it back");
        var names = await FetchDataAsync(pool);
        Console.WriteLine($"   users: {string.Join(", ", names)}; pool: {pool.Statistics}");
        ok &= Check(names.SequenceEqual(["Ada", "Grace", "Linus", "Barbara"]), "the query returned every user");
        ok &= Check(pool.Statistics.Busy == 0 && pool.Statistics.Idle == 1, "the connection went back to the pool, still open");

        Console.WriteLine();
        Console.WriteLine($"2. {queries} concurrent fetch_data calls share at most {MaxSize} connections");
        var all = await Task.WhenAll(Enumerable.Range(0, queries).Select(_ => FetchDataAsync(pool, work: TimeSpan.FromMilliseconds(20))));
        Console.WriteLine($"   {all.Length} queries, {opened} connections opened; pool: {pool.Statistics}");
        ok &= Check(all.All(result => result.Count == 4), "every query returned every user");
        ok &= Check(pool.Statistics.TotalCreated == MaxSize, $"only {MaxSize} connections were ever opened: the other callers waited for one to come back");

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
            Console.WriteLine($"   failed: {e.Message}; pool: {pool.Statistics}");
        }

        ok &= Check(pool.Statistics.Busy == 0, "the connection was given back anyway");
    }

    Console.WriteLine();
    Console.WriteLine("4. Disposing the pool");
    Console.WriteLine($"   {opened} connections opened, {closed} closed; pool: {pool.Statistics}");
    ok &= Check(opened > 0 && closed == opened, "every connection was closed");
}
finally
{
    File.Delete(path);
}

Console.WriteLine();
Console.WriteLine(ok ? "Connections: OK" : "Connections: FAILED");
return ok ? 0 : 1;

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

static bool Check(bool condition, string expectation)
{
    Console.WriteLine($"   {(condition ? "ok" : "NOT OK")}: {expectation}");
    return condition;
}
