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
        RequireServer();
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

    [Fact]
    public async Task Invalidate_EveryLeaseWithMaxSize3_NeverMoreThan3ConnectionsOpenAtOnce()
    {
        RequireServer();
        var ct = TestContext.Current.CancellationToken;
        var builder = new NpgsqlConnectionStringBuilder(s_connectionString) { Pooling = false };
        var open = 0;
        var peak = 0;
        var opened = 0;
        var pool = DbConnectionPool.Create(
            () =>
            {
                var connection = new NpgsqlConnection(builder.ConnectionString);
                connection.StateChange += (_, e) =>
                {
                    if (e.CurrentState == System.Data.ConnectionState.Open)
                    {
                        Interlocked.Increment(ref opened);
                        var now = Interlocked.Increment(ref open);
                        int seen;
                        while (now > (seen = Volatile.Read(ref peak)) && Interlocked.CompareExchange(ref peak, now, seen) != seen)
                        {
                        }
                    }
                    else if (e.OriginalState == System.Data.ConnectionState.Open && e.CurrentState == System.Data.ConnectionState.Closed)
                    {
                        Interlocked.Decrement(ref open);
                    }
                };
                return connection;
            },
            options =>
            {
                options.MaxSize = 3;
                options.Name = "postgres-retire";

                // A close that takes a while (a goodbye over a slow link): the slot must stay taken until it is done.
                options.DestroyAsync = async connection =>
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(20), CancellationToken.None);
                    await connection.DisposeAsync();
                };
            });

        await Task.WhenAll(Enumerable.Range(0, 30).Select(i => Task.Run(
            async () =>
            {
                await using var lease = await pool.AcquireAsync(ct);
                await using var command = new NpgsqlCommand("SELECT 1", lease.Connection);
                await command.ExecuteScalarAsync(ct);
                lease.Invalidate(); // each connection is closed on return, while other callers wait for its slot
            },
            ct))).WaitAsync(FakeClock.HangTimeout, ct);
        await pool.DisposeAsync();

        opened.Should().Be(30, "every lease was invalidated, so each caller got a new connection");
        peak.Should().BeInRange(1, 3, "a retired connection keeps its slot until it is closed");
        open.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_ServerTerminatedAnIdlePooledBackend_NextAcquiresWorkWithoutInvalidate()
    {
        RequireServer();
        var ct = TestContext.Current.CancellationToken;
        var builder = new NpgsqlConnectionStringBuilder(s_connectionString) { Pooling = false, ApplicationName = $"asyncpatterns-{Guid.NewGuid():N}"[..40] };
        await using var pool = DbConnectionPool.Create(() => new NpgsqlConnection(builder.ConnectionString), options =>
        {
            options.MaxSize = 1;
            options.Name = "postgres-terminated";
            options.ValidateAfterIdle = Timeout.InfiniteTimeSpan; // no validation round trip: only the pool's own checks
        });
        await using var monitor = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(s_connectionString) { Pooling = false }.ConnectionString);
        await monitor.OpenAsync(ct);

        int killed;
        await using (var lease = await pool.AcquireAsync(ct))
        {
            killed = lease.Connection.ProcessID;
            await using var command = new NpgsqlCommand("SELECT 1", lease.Connection);
            await command.ExecuteScalarAsync(ct);
        }

        await using (var terminate = new NpgsqlCommand("SELECT pg_terminate_backend(@pid)", monitor))
        {
            terminate.Parameters.AddWithValue("pid", killed);
            ((bool)(await terminate.ExecuteScalarAsync(ct))!).Should().BeTrue();
        }

        // The client learns of the termination only when it next reads: the first query on that connection may fail.
        // Whatever it does, the caller only returns the lease, and the pool must not hand the dead connection out again.
        var failures = new List<Exception>();
        var backends = new List<int>();
        for (var i = 0; i < 21; i++)
        {
            await using var lease = await pool.AcquireAsync(ct);
            backends.Add(lease.Connection.ProcessID);
            try
            {
                await using var command = new NpgsqlCommand("SELECT 1", lease.Connection);
                await command.ExecuteScalarAsync(ct);
            }
            catch (NpgsqlException ex)
            {
                failures.Add(ex);
            }
        }

        failures.Should().HaveCountLessThanOrEqualTo(1, "only the query that discovers the termination fails: {0}", string.Join("; ", failures.Select(f => f.Message)));
        backends.Skip(1).Should().NotContain(killed, "a connection the provider closed is destroyed on return, never leased again");
        pool.Statistics.TotalDestroyed.Should().Be(failures.Count);
    }

    [Fact]
    public async Task AcquireAsync_MaxLifetimeChurnWithMaxSize5_PoolsOwnCountNeverExceeds5AndAnyServerExcessIsClosedBackends()
    {
        RequireServer();
        var ct = TestContext.Current.CancellationToken;
        const int maxSize = 5;
        var application = $"asyncpatterns-{Guid.NewGuid():N}"[..40];
        var builder = new NpgsqlConnectionStringBuilder(s_connectionString) { Pooling = false, ApplicationName = application };
        var open = 0;
        var peakOpen = 0;
        var closed = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        var options = DbConnectionPool.CreateOptions(() => new NpgsqlConnection(builder.ConnectionString));
        var openAsync = options.CreateAsync!;
        options.CreateAsync = async token =>
        {
            var connection = await openAsync(token);
            var now = Interlocked.Increment(ref open);
            int seen;
            while (now > (seen = Volatile.Read(ref peakOpen)) && Interlocked.CompareExchange(ref peakOpen, now, seen) != seen)
            {
            }

            return connection;
        };
        options.DestroyAsync = async connection =>
        {
            var pid = connection.ProcessID;
            await connection.DisposeAsync();
            closed[pid] = true;
            Interlocked.Decrement(ref open);
        };
        options.MaxSize = maxSize;
        options.MaxLifetime = TimeSpan.FromMilliseconds(300);
        options.Name = "postgres-churn";
        var pool = new AsyncConnectionPool<NpgsqlConnection>(options);
        await using var monitor = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(s_connectionString) { Pooling = false }.ConnectionString);
        await monitor.OpenAsync(ct);

        var samples = 0;
        var rawAboveMax = 0;
        var poolPeak = 0;
        var violations = new List<string>();
        using var done = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var sampler = Task.Run(
            async () =>
            {
                while (!done.IsCancellationRequested)
                {
                    var listed = new List<int>();
                    await using (var query = new NpgsqlCommand("SELECT pid FROM pg_stat_activity WHERE application_name = @app", monitor))
                    {
                        query.Parameters.AddWithValue("app", application);
                        await using var reader = await query.ExecuteReaderAsync(ct);
                        while (await reader.ReadAsync(ct))
                        {
                            listed.Add(reader.GetInt32(0));
                        }
                    }

                    var statistics = pool.Statistics;
                    poolPeak = Math.Max(poolPeak, statistics.Idle + statistics.Busy + statistics.Creating + statistics.Destroying);
                    samples++;
                    rawAboveMax += listed.Count > maxSize ? 1 : 0;

                    // Every backend the server lists beyond MaxSize must be one the pool had already closed.
                    var notClosed = listed.Count(pid => !closed.ContainsKey(pid));
                    if (notClosed > maxSize)
                    {
                        violations.Add($"{listed.Count} listed, {notClosed} not closed by the pool");
                    }
                }
            },
            ct);

        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(3);
        await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(
            async () =>
            {
                while (DateTimeOffset.UtcNow < deadline)
                {
                    await using var lease = await pool.AcquireAsync(ct);
                    await using var command = new NpgsqlCommand("SELECT pg_sleep(0.005)", lease.Connection);
                    await command.ExecuteNonQueryAsync(ct);
                }
            },
            ct))).WaitAsync(FakeClock.HangTimeout, ct);
        await done.CancelAsync();
        await sampler.WaitAsync(FakeClock.HangTimeout, ct);
        await pool.DisposeAsync();

        samples.Should().BeGreaterThan(20);
        pool.Statistics.TotalCreated.Should().BeGreaterThan(maxSize, "MaxLifetime churned the connections");
        peakOpen.Should().BeInRange(1, maxSize, "the pool's own count of open connections never exceeds MaxSize");
        poolPeak.Should().BeInRange(1, maxSize);
        violations.Should().BeEmpty("{0} of {1} samples listed more than MaxSize backends, each time only closed ones", rawAboveMax, samples);
        open.Should().Be(0);
    }

    private static void RequireServer()
    {
        if (string.IsNullOrEmpty(s_connectionString) && Environment.GetEnvironmentVariable("CI") == "true")
        {
            Assert.Fail($"{Variable} is not set although CI=true: .ci/run must start PostgreSQL with .ci/postgres.sh.");
        }

        Assert.SkipUnless(!string.IsNullOrEmpty(s_connectionString), $"{Variable} is not set: no PostgreSQL server (run .ci/postgres.sh to start one).");
    }
}
