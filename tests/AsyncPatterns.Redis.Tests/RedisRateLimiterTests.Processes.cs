using System.Globalization;
using StackExchange.Redis;

namespace AsyncPatterns.Redis.Tests;

/// <summary>Several processes (AsyncPatterns.Redis.TestWorker) share one key: the limits hold across them.</summary>
public sealed partial class RedisRateLimiterTests
{
    private static readonly TimeSpan ProcessBound = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task AcquireAsync_ThreeProcessesSharingTenPerSecondForFiveSeconds_GrantAtMostRateTimesWindowPlusBurstInEveryWindow()
    {
        const double rate = 10;
        const int burst = 2;
        var key = NewKey();
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bound.CancelAfter(ProcessBound);
        var workers = Enumerable.Range(0, 3)
            .Select(_ => WorkerProcess.Start("rate", redis.ConnectionString, key, "10", "2", "5", "4"))
            .ToArray();
        var perProcess = (await RunTogetherAsync(workers, bound.Token))
            .Select(static lines => lines.Where(static l => l.StartsWith("GRANT ", StringComparison.Ordinal))
                .Select(static l => long.Parse(l.AsSpan(6), CultureInfo.InvariantCulture))
                .ToList())
            .ToList();
        var grants = perProcess.SelectMany(static mine => mine).ToList();

        perProcess.Should().AllSatisfy(mine => mine.Should().NotBeEmpty("every process shares the budget"));
        var times = grants.Order().ToArray();
        times.Length.Should().BeGreaterThan(30, "the limit, not the workers, held the processes back for 5 s");
        var span = (times[^1] - times[0]) / 1e6;
        times.Length.Should().BeLessThanOrEqualTo((int)Math.Floor((rate * span) + burst + 1e-6));
        ShouldHoldRateTimesWindowPlusBurst(times, rate, burst);
    }

    [Fact]
    public async Task AcquireAsync_ConcurrencyLimitAcrossProcesses_NeverMoreThanTheLimitHeld()
    {
        const int limit = 3;
        var key = NewKey();
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bound.CancelAfter(ProcessBound);
        var workers = Enumerable.Range(0, 3)
            .Select(_ => WorkerProcess.Start("concurrency", redis.ConnectionString, key, "3", "4", "15"))
            .ToArray();
        var granted = (await RunTogetherAsync(workers, bound.Token))
            .Sum(static lines => int.Parse(lines.Single(static l => l.StartsWith("GRANTED ", StringComparison.Ordinal)).AsSpan(8), CultureInfo.InvariantCulture));

        using var multiplexer = await redis.ConnectAsync();
        var database = multiplexer.GetDatabase();
        var most = (int)await database.StringGetAsync($"{key}:most");
        var inUse = (int)await database.StringGetAsync($"{key}:inuse");
        granted.Should().Be(3 * 4 * 15);
        inUse.Should().Be(0);
        most.Should().BeLessThanOrEqualTo(limit, "the holders, counted in Redis, never exceed the limit across processes");
        most.Should().BeGreaterThan(1, "the processes' holds did overlap");
    }

    [Fact]
    public async Task AcquireAsync_ProcessKilledWhileHoldingLeases_HasThemReclaimedAfterTheLeaseTimeAndNotBefore()
    {
        const int limit = 2;
        var leaseTime = TimeSpan.FromSeconds(2);
        var key = NewKey();
        RedisKey leasesKey = $"{{{key}}}:leases";
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bound.CancelAfter(ProcessBound);
        using var multiplexer = await redis.ConnectAsync();
        var database = multiplexer.GetDatabase();
        long grantedAtUs = 0;
        await using var survivor = new RedisRateLimiter(new()
        {
            OperationTimeout = Slow,
            ConnectionMultiplexer = multiplexer,
            Key = key,
            MaxConcurrency = limit,
            LeaseTime = leaseTime,
            GrantObserver = (nowUs, _) => Volatile.Write(ref grantedAtUs, nowUs),
        });

        await using var holder = WorkerProcess.Start("hold", redis.ConnectionString, key, "2", "2000");
        await holder.ReadUntilAsync("HELD", bound.Token);

        // Alive, the holder renews: past several lease times its leases are still held.
        var firstExpiry = await LatestExpiryAsync(database, leasesKey);
        await Task.Delay(leaseTime * 2, bound.Token);
        using (var probe = survivor.AttemptAcquire())
        {
            probe.IsAcquired.Should().BeFalse("the living holder renews its leases");
        }

        (await LatestExpiryAsync(database, leasesKey)).Should().BeGreaterThan(firstExpiry, "the holder renewed its leases");

        // Killed: nothing is released or renewed any more.
        await holder.KillAsync();
        var killedAtUs = await ServerNowUsAsync(database);
        var expiries = (await database.SortedSetRangeByRankWithScoresAsync(leasesKey)).Select(static e => (long)e.Score).ToArray();
        expiries.Should().HaveCount(limit, "the killed process's leases are still held");
        expiries.Should().AllSatisfy(expiry =>
        {
            expiry.Should().BeGreaterThan(killedAtUs, "a lease is not reclaimed before its lease time");
            expiry.Should().BeLessThanOrEqualTo(killedAtUs + (long)leaseTime.TotalMicroseconds, "a lease outlives its holder by at most the lease time");
        });
        using (var probe = survivor.AttemptAcquire())
        {
            probe.IsAcquired.Should().BeFalse("the dead process's leases have not expired yet");
        }

        using var lease = await survivor.AcquireAsync(limit, bound.Token);

        lease.IsAcquired.Should().BeTrue("the dead process's leases were reclaimed");
        var grantedAt = Volatile.Read(ref grantedAtUs);
        grantedAt.Should().BeGreaterThanOrEqualTo(expiries.Max(), "granted once both leases had expired, not before");
        grantedAt.Should().BeLessThan(expiries.Max() + 1_000_000, "the waiter wakes at the earliest expiry, without a release message");
    }

    /// <summary>Starts the workers together (each waits for GO once ready) and returns each one's lines before DONE, after its clean exit; kills them all if anything fails.</summary>
    private static async Task<List<IReadOnlyList<string>>> RunTogetherAsync(WorkerProcess[] workers, CancellationToken cancellationToken)
    {
        try
        {
            foreach (var worker in workers)
            {
                await worker.ReadUntilAsync("READY", cancellationToken);
            }

            foreach (var worker in workers)
            {
                await worker.SendAsync("GO");
            }

            var output = new List<IReadOnlyList<string>>();
            foreach (var worker in workers)
            {
                output.Add(await worker.ReadUntilAsync("DONE", cancellationToken));
                await worker.ExitAsync(cancellationToken);
            }

            return output;
        }
        finally
        {
            foreach (var worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }

    private static async Task<long> LatestExpiryAsync(IDatabase database, RedisKey leases) =>
        (long)(await database.SortedSetRangeByRankWithScoresAsync(leases)).Max(static e => e.Score);

    private static async Task<long> ServerNowUsAsync(IDatabase database)
    {
        var time = (RedisResult[])(await database.ExecuteAsync("TIME"))!;
        return (long.Parse((string)time[0]!, CultureInfo.InvariantCulture) * 1_000_000) + long.Parse((string)time[1]!, CultureInfo.InvariantCulture);
    }
}
