using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using StackExchange.Redis;

namespace AsyncPatterns.Redis.Tests;

/// <summary>Several independent multiplexers (as several processes would) share one key on the real clock.</summary>
public sealed partial class RedisRateLimiterTests
{
    [Fact]
    public async Task AcquireAsync_ThreeMultiplexersSharingTenPerSecond_GrantAtMostRateTimesWindowPlusBurstInEveryWindow()
    {
        const double rate = 10;
        const int burst = 2;
        var key = NewKey();
        var grants = new ConcurrentBag<long>();
        var multiplexers = new List<ConnectionMultiplexer>();
        var limiters = new List<RedisRateLimiter>();
        for (var i = 0; i < 3; i++)
        {
            var multiplexer = await redis.ConnectAsync();
            multiplexers.Add(multiplexer);
            limiters.Add(new RedisRateLimiter(new()
            {
                OperationTimeout = Slow,
                ConnectionMultiplexer = multiplexer,
                Key = key,
                PermitsPerSecond = rate,
                Burst = burst,
                GrantObserver = (nowUs, permits) =>
                {
                    for (var p = 0; p < permits; p++)
                    {
                        grants.Add(nowUs);
                    }
                },
            }));
        }

        try
        {
            using var run = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            run.CancelAfter(TimeSpan.FromSeconds(3));
            var workers = limiters.SelectMany(limiter => Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
            {
                while (!run.IsCancellationRequested)
                {
                    try
                    {
                        using var lease = await limiter.AcquireAsync(run.Token);
                        lease.IsAcquired.Should().BeTrue();
                    }
                    catch (OperationCanceledException) when (run.IsCancellationRequested)
                    {
                    }
                }
            }))).ToArray();
            await Task.WhenAll(workers);
        }
        finally
        {
            foreach (var limiter in limiters)
            {
                await limiter.DisposeAsync();
            }

            foreach (var multiplexer in multiplexers)
            {
                await multiplexer.DisposeAsync();
            }
        }

        var times = grants.Order().ToArray();
        times.Length.Should().BeGreaterThan(15, "the limit, not the test, is what held the workers back");
        ShouldHoldRateTimesWindowPlusBurst(times, rate, burst);
    }

    [Fact]
    public async Task AcquireAsync_ConcurrencyLimitAcrossMultiplexers_NeverMoreThanTheLimitHeld()
    {
        const int limit = 3;
        var key = NewKey();
        var multiplexers = new List<ConnectionMultiplexer>();
        var limiters = new List<RedisRateLimiter>();
        for (var i = 0; i < 3; i++)
        {
            var multiplexer = await redis.ConnectAsync();
            multiplexers.Add(multiplexer);
            limiters.Add(new RedisRateLimiter(new() { OperationTimeout = Slow, ConnectionMultiplexer = multiplexer, Key = key, MaxConcurrency = limit }));
        }

        var held = 0;
        var most = 0;
        var granted = 0;
        try
        {
            var workers = limiters.SelectMany((limiter, l) => Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
            {
                var random = new Random((l * 10) + w);
                for (var round = 0; round < 15; round++)
                {
                    using var lease = await limiter.AcquireAsync(Ct);
                    lease.IsAcquired.Should().BeTrue();
                    var now = Interlocked.Increment(ref held);
                    InterlockedMax(ref most, now);
                    Interlocked.Increment(ref granted);
                    await Task.Delay(random.Next(0, 4), Ct);
                    Interlocked.Decrement(ref held);
                }
            }))).ToArray();
            await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60), Ct);
        }
        finally
        {
            foreach (var limiter in limiters)
            {
                await limiter.DisposeAsync();
            }

            foreach (var multiplexer in multiplexers)
            {
                await multiplexer.DisposeAsync();
            }
        }

        granted.Should().Be(3 * 4 * 15);
        most.Should().BeLessThanOrEqualTo(limit);
        most.Should().BeGreaterThan(1, "the workers did overlap");
    }

    [Fact]
    public async Task AcquireAsync_HolderWhoseMultiplexerDiedWithoutRelease_HasItsLeaseReclaimedAfterTheLeaseTime()
    {
        var key = NewKey();
        var leaseTime = TimeSpan.FromMilliseconds(600);
        var dying = await redis.ConnectAsync();
        var holder = new RedisRateLimiter(new() { OperationTimeout = Slow, ConnectionMultiplexer = dying, Key = key, MaxConcurrency = 1, LeaseTime = leaseTime });
        var orphan = await holder.AcquireAsync(Ct);
        orphan.IsAcquired.Should().BeTrue();

        using var survivor = await redis.ConnectAsync();
        await using var other = new RedisRateLimiter(new() { OperationTimeout = Slow, ConnectionMultiplexer = survivor, Key = key, MaxConcurrency = 1, LeaseTime = leaseTime });

        // Held and renewed: several lease times later it is still held.
        for (var i = 0; i < 3; i++)
        {
            using var probe = other.AttemptAcquire();
            probe.IsAcquired.Should().BeFalse("the holder renews its lease while it lives");
            await Task.Delay(leaseTime, Ct);
        }

        // The holder's process dies: its connection goes, nothing is released or renewed any more.
        await dying.DisposeAsync();
        var diedAt = TimeProvider.System.GetTimestamp();

        using var lease = await other.AcquireAsync(Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(20), Ct);

        lease.IsAcquired.Should().BeTrue();
        TimeProvider.System.GetElapsedTime(diedAt).Should().BeGreaterThan(leaseTime / 3, "the lease outlives its last renewal by up to the lease time");
        holder.Dispose();
        orphan.Dispose();
    }

    /// <summary>Every window of the sorted grant times (µs on the server's clock) holds at most R × t + B grants.</summary>
    private static void ShouldHoldRateTimesWindowPlusBurst(long[] times, double rate, int burst)
    {
        for (var i = 0; i < times.Length; i++)
        {
            for (var j = i; j < times.Length; j++)
            {
                var window = (times[j] - times[i]) / 1e6;
                (j - i + 1).Should().BeLessThanOrEqualTo(
                    (int)Math.Floor((rate * window) + burst + 1e-6),
                    "grants {0}..{1} fall within {2} s on the server's clock", i, j, window);
            }
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
