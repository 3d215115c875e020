using AsyncPatterns.Connections;
using Microsoft.Data.Sqlite;

namespace AsyncPatterns.IntegrationTests.Connections;

/// <summary>The ADO.NET adapter over real SQLite connections (a database file, provider pooling off).</summary>
public sealed class DbConnectionPoolSqliteTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"asyncpatterns-pool-{Guid.NewGuid():N}.db");

    private string ConnectionString => new SqliteConnectionStringBuilder { DataSource = _path, Pooling = false }.ToString();

    [Fact]
    public async Task Create_50ConcurrentQueriesWithMaxSize5_OpensAtMost5ConnectionsAndClosesThemOnDispose()
    {
        var ct = TestContext.Current.CancellationToken;
        var opened = new List<SqliteConnection>();
        var open = 0;
        var peak = 0;
        var pool = DbConnectionPool.Create(
            () =>
            {
                var connection = new SqliteConnection(ConnectionString);
                connection.StateChange += (_, e) =>
                {
                    if (e.CurrentState == System.Data.ConnectionState.Open)
                    {
                        var now = Interlocked.Increment(ref open);
                        lock (opened)
                        {
                            peak = Math.Max(peak, now);
                        }
                    }
                    else if (e.OriginalState == System.Data.ConnectionState.Open)
                    {
                        Interlocked.Decrement(ref open);
                    }
                };
                lock (opened)
                {
                    opened.Add(connection);
                }

                return connection;
            },
            options =>
            {
                options.MaxSize = 5;
                options.ValidateAfterIdle = TimeSpan.Zero;
            });

        await using (var setup = await pool.AcquireAsync(ct))
        {
            await using var command = setup.Connection.CreateCommand();
            command.CommandText = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO items (name) VALUES ('a'), ('b'), ('c');";
            await command.ExecuteNonQueryAsync(ct);
        }

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => Task.Run(
            async () =>
            {
                await using var lease = await pool.AcquireAsync(ct);
                await using var command = lease.Connection.CreateCommand();
                command.CommandText = "SELECT count(*) + $i FROM items";
                command.Parameters.AddWithValue("$i", i);
                await Task.Yield();
                return (long)(await command.ExecuteScalarAsync(ct))!;
            },
            ct))).WaitAsync(FakeClock.HangTimeout, ct);

        results.Should().Equal(Enumerable.Range(0, 50).Select(i => 3L + i));
        peak.Should().BeInRange(1, 5);
        opened.Count.Should().BeLessThanOrEqualTo(5);
        pool.Statistics.Busy.Should().Be(0);

        await pool.DisposeAsync();

        Volatile.Read(ref open).Should().Be(0);
        opened.Should().OnlyContain(c => c.State == System.Data.ConnectionState.Closed);
    }

    [Fact]
    public async Task Create_ValidationQueryFails_DestroysTheConnectionAndOpensANewOne()
    {
        var ct = TestContext.Current.CancellationToken;
        var options = DbConnectionPool.CreateOptions(() => new SqliteConnection(ConnectionString), validationQuery: "SELECT no_such_column");
        options.ValidateAfterIdle = TimeSpan.Zero;
        await using var pool = new AsyncConnectionPool<SqliteConnection>(options);
        SqliteConnection first;
        await using (var lease = await pool.AcquireAsync(ct))
        {
            first = lease.Connection;
        }

        await using var second = await pool.AcquireAsync(ct);

        second.Connection.Should().NotBeSameAs(first);
        second.Connection.State.Should().Be(System.Data.ConnectionState.Open);
        await FakeClock.WaitUntilAsync(() => first.State == System.Data.ConnectionState.Closed, cancellationToken: ct);
    }

    [Fact]
    public async Task Create_DatabaseCannotBeOpened_ErrorReachesTheCaller()
    {
        var ct = TestContext.Current.CancellationToken;
        var missing = new SqliteConnectionStringBuilder { DataSource = Path.Combine(_path + ".missing-dir", "x.db"), Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString();
        await using var pool = DbConnectionPool.Create(() => new SqliteConnection(missing));

        var act = async () => await pool.AcquireAsync(ct);

        await act.Should().ThrowAsync<SqliteException>();
        pool.Statistics.Creating.Should().Be(0);
    }

    public void Dispose()
    {
        if (File.Exists(_path))
        {
            File.Delete(_path);
        }
    }
}
