using AsyncPatterns.Connections;
using Npgsql;

namespace AsyncPatterns.IntegrationTests.Connections;

/// <summary>
/// The ADO.NET adapter over a real PostgreSQL server on 127.0.0.1. CI starts one with <c>.ci/postgres.sh</c> and
/// exports its connection string as <c>ASYNCPATTERNS_POSTGRES</c>; without it these tests are skipped, except under CI, where they fail.
/// </summary>
public sealed class DbConnectionPoolPostgresTests
{
    private const string Variable = "ASYNCPATTERNS_POSTGRES";

    private static readonly string? s_connectionString = Environment.GetEnvironmentVariable(Variable);

    [Fact]
    public async Task Create_50ConcurrentQueriesWithMaxSize5_ServerSeesAtMost5ConnectionsAndNoneAfterDispose()
    {
        if (string.IsNullOrEmpty(s_connectionString) && Environment.GetEnvironmentVariable("CI") == "true")
        {
            Assert.Fail($"{Variable} is not set although CI=true: .ci/run must start PostgreSQL with .ci/postgres.sh.");
        }

        Assert.SkipUnless(!string.IsNullOrEmpty(s_connectionString), $"{Variable} is not set: no PostgreSQL server (run .ci/postgres.sh to start one).");
        var ct = TestContext.Current.CancellationToken;
        var application = $"asyncpatterns-{Guid.NewGuid():N}"[..40];
        var builder = new NpgsqlConnectionStringBuilder(s_connectionString) { Pooling = false, ApplicationName = application };
        var pool = DbConnectionPool.Create(() => new NpgsqlConnection(builder.ConnectionString), options =>
        {
            options.MaxSize = 5;
            options.Name = "postgres";
        });
        await using var monitor = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(s_connectionString) { Pooling = false }.ConnectionString);
        await monitor.OpenAsync(ct);

        async Task<long> ServerConnectionsAsync()
        {
            await using var count = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE application_name = @app", monitor);
            count.Parameters.AddWithValue("app", application);
            return (long)(await count.ExecuteScalarAsync(ct))!;
        }

        var peak = 0L;
        using var done = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var sampler = Task.Run(
            async () =>
            {
                while (!done.IsCancellationRequested)
                {
                    peak = Math.Max(peak, await ServerConnectionsAsync());
                }
            },
            ct);

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => Task.Run(
            async () =>
            {
                await using var lease = await pool.AcquireAsync(ct);
                await using var command = new NpgsqlCommand("SELECT @i::int + 0 FROM pg_sleep(0.02)", lease.Connection);
                command.Parameters.AddWithValue("i", i);
                return (int)(await command.ExecuteScalarAsync(ct))!;
            },
            ct))).WaitAsync(FakeClock.HangTimeout, ct);
        await done.CancelAsync();
        await sampler.WaitAsync(FakeClock.HangTimeout, ct);

        results.Should().Equal(Enumerable.Range(0, 50));
        peak.Should().BeInRange(1, 5);
        (await ServerConnectionsAsync()).Should().BeInRange(1, 5, "the pool keeps its idle connections open");

        await pool.DisposeAsync();

        // A backend leaves pg_stat_activity a moment after its client disconnects.
        var remaining = await ServerConnectionsAsync();
        for (var attempt = 0; remaining != 0 && attempt < 200; attempt++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(50), ct);
            remaining = await ServerConnectionsAsync();
        }

        remaining.Should().Be(0, "every connection of the pool is closed after DisposeAsync");
    }
}
