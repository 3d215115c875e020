using System.Collections.Concurrent;
using AsyncPatterns.Connections;

namespace AsyncPatterns.Tests.Reliability;

/// <summary>
/// Seeded stress of <see cref="AsyncConnectionPool{TConnection}"/>: concurrent workers acquire with random
/// cancellations while the create, usable, validate and reset hooks fail at random, a MinSize refill runs and leases
/// are invalidated. Built in Debug, every locked section of the pool also checks its invariants.
/// </summary>
public sealed class AsyncConnectionPoolStressTests
{
    private const string Name = nameof(AsyncConnectionPoolStressTests);

    [Fact]
    public Task AcquireAsync_RandomCancellationsAndHookFaults_NoConnectionSharedLostOrOverLimit() =>
        StressHarness.RunAsync(Name, ciRounds: 10, RoundAsync);

    private static async Task RoundAsync(int seed)
    {
        var random = new Random(seed);
        var maxSize = random.Next(1, 7);
        const int workers = 8;
        var perWorker = random.Next(100, 200);
        var workerSeeds = Enumerable.Range(0, workers).Select(_ => random.Next()).ToArray();
        var hookRandom = new Random(random.Next());
        var minSize = random.Next(0, maxSize + 1);
        var hookLock = new Lock();
        int Roll()
        {
            lock (hookLock)
            {
                return hookRandom.Next(100);
            }
        }

        var created = new ConcurrentQueue<StressConnection>();
        var nextId = 0;
        var live = 0;
        var peakLive = 0;
        var busy = 0;
        var peakHeld = 0;
        var peakBusy = 0;
        var createFaults = 0;

        var options = new ConnectionPoolOptions<StressConnection>
        {
            MaxSize = maxSize,
            MinSize = minSize,
            AcquireTimeout = FakeClock.HangTimeout,
            ValidateAfterIdle = TimeSpan.Zero,
            MaxLifetimeJitter = 0,
            CreateAsync = async token =>
            {
                var roll = Roll();
                if (roll < 30)
                {
                    await Task.Yield();
                    token.ThrowIfCancellationRequested();
                }

                if (roll % 10 == 0)
                {
                    Interlocked.Increment(ref createFaults);
                    throw new StressFault(Name, seed, -1);
                }

                var connection = new StressConnection(Interlocked.Increment(ref nextId));
                created.Enqueue(connection);
                StressHarness.RaisePeak(ref peakLive, Interlocked.Increment(ref live));
                return connection;
            },
            ValidateAsync = async (connection, token) =>
            {
                var roll = Roll();
                if (roll < 20)
                {
                    await Task.Yield();
                }

                return roll switch
                {
                    < 5 => throw new StressFault(Name, seed, connection.Id),
                    < 10 => false,
                    _ => true,
                };
            },
            IsUsable = connection => Roll() switch
            {
                < 2 => throw new StressFault(Name, seed, connection.Id),
                < 5 => false,
                _ => true,
            },
            ResetAsync = (connection, token) => Roll() < 5 ? throw new StressFault(Name, seed, connection.Id) : ValueTask.CompletedTask,
            DestroyAsync = connection =>
            {
                Interlocked.Increment(ref connection.Destroyed);
                Interlocked.Decrement(ref live);
                return ValueTask.CompletedTask;
            },
        };

        var pool = new AsyncConnectionPool<StressConnection>(options);
        var acquired = 0;
        var cancelled = 0;
        var failed = 0;

        async Task WorkAsync(int worker)
        {
            var local = new Random(workerSeeds[worker]);
            for (var i = 0; i < perWorker; i++)
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
                var pending = pool.AcquireAsync(cts.Token).AsTask();
                if (local.Next(6) == 0)
                {
                    if (local.Next(2) == 0)
                    {
                        await Task.Yield();
                    }

                    await cts.CancelAsync();
                }

                PooledConnection<StressConnection> lease;
                try
                {
                    lease = await pending;
                }
                catch (OperationCanceledException ex) when (ex.CancellationToken == cts.Token)
                {
                    Interlocked.Increment(ref cancelled);
                    continue;
                }
                catch (StressFault)
                {
                    Interlocked.Increment(ref failed);
                    continue;
                }

                Interlocked.Increment(ref acquired);
                var connection = lease.Connection;
                Volatile.Read(ref connection.Destroyed).Should().Be(0, "a destroyed connection is never handed out");
                Interlocked.CompareExchange(ref connection.Owner, 1, 0).Should().Be(0, "connection {0} is leased to one caller at a time", connection.Id);
                StressHarness.RaisePeak(ref peakBusy, Interlocked.Increment(ref busy));
                var sample = pool.Statistics;
                StressHarness.RaisePeak(ref peakHeld, sample.Busy + sample.Idle + sample.Creating + sample.Destroying);
                if (local.Next(2) == 0)
                {
                    await Task.Yield();
                }

                if (local.Next(10) == 0)
                {
                    lease.Invalidate();
                }

                Interlocked.Decrement(ref busy);
                Interlocked.Exchange(ref connection.Owner, 0);
                await lease.DisposeAsync();
            }
        }

        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(() => WorkAsync(w))));

        (acquired + cancelled + failed).Should().Be(workers * perWorker, "every acquire has one outcome");
        failed.Should().BeLessThanOrEqualTo(createFaults, "only create faults reach callers (validate and reset faults are absorbed)");
        peakBusy.Should().BeLessThanOrEqualTo(maxSize);
        peakHeld.Should().BeLessThanOrEqualTo(maxSize, "MaxSize counts idle, leased, created and destroying connections together");

        peakLive.Should().BeLessThanOrEqualTo(maxSize, "a retired connection keeps its slot until its destroy hook has finished");

        // Retired connections are destroyed in the background: let those destroy hooks run before comparing.
        await FakeClock.WaitUntilAsync(
            () => Volatile.Read(ref live) == created.Count - pool.Statistics.TotalDestroyed && pool.Statistics.Creating == 0,
            cancellationToken: TestContext.Current.CancellationToken);
        var statistics = pool.Statistics;
        statistics.Busy.Should().Be(0, "every lease was returned");
        statistics.Waiting.Should().Be(0);
        statistics.TotalCreated.Should().Be(created.Count, "the pool counts each created connection once");
        statistics.Idle.Should().Be(Volatile.Read(ref live), "every live connection is idle in the pool: {0}", statistics);

        await pool.DisposeAsync();
        pool.Statistics.TotalDestroyed.Should().Be(created.Count);
        created.Should().OnlyContain(c => c.Destroyed == 1, "every connection is destroyed exactly once");
        live.Should().Be(0);
    }

    internal sealed class StressConnection(int id)
    {
        public int Owner;
        public int Destroyed;

        public int Id { get; } = id;
    }
}
