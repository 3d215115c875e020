using System.Collections.Concurrent;
using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.Tests.Reliability;

/// <summary>
/// Seeded stress of <see cref="RequestRateLimiter"/> and <see cref="TokenBucketLimiter"/> on a fake clock: concurrent
/// workers acquire (queued, rejected, cancelled by fake-time timeouts), hold leases for random fake durations and
/// release them. A driver advances the clock only when every worker is parked on something the clock must release,
/// so every grant is stamped with the exact fake time it happened at, and the rate can be checked window by window.
/// </summary>
public sealed class RateLimiterStressTests
{
    private const string Name = nameof(RateLimiterStressTests);
    private const int Workers = 6;

    [Fact]
    public Task RequestRateLimiter_RandomAcquiresCancellationsAndHolds_RateConcurrencyAndCountsHold() =>
        StressHarness.RunAsync(Name + ".RequestRateLimiter", ciRounds: 6, async seed =>
        {
            var random = new Random(seed);
            var time = FakeClock.Create();
            var maxConcurrency = random.Next(1, 5);
            var rate = random.Next(100, 1000);
            var burst = random.Next(1, 6);
            var queueLimit = random.Next(0, Workers + 1);
            using var limiter = new RequestRateLimiter(new RequestRateLimiterOptions
            {
                MaxConcurrency = maxConcurrency,
                PermitsPerSecond = rate,
                Burst = burst,
                QueueLimit = queueLimit,
                TimeProvider = time,
            });

            var run = await RunWorkersAsync(seed, random, time, limiter, maxPermits: 1, holdMaxMs: 10);

            var context = $"maxConcurrency {maxConcurrency}, rate {rate}/s, burst {burst}, queue {queueLimit}";
            run.PeakHeld.Should().BeLessThanOrEqualTo(maxConcurrency, context);
            AssertRate(run.Grants, burst, rate, context);
            AssertCounts(limiter, run, context);
            await time.AdvanceAsync(TimeSpan.FromSeconds(10));
            limiter.IdleDuration.Should().NotBeNull("nothing is held or queued and the burst has refilled ({0})", context);
        });

    [Fact]
    public Task TokenBucketLimiter_RandomAcquiresCancellationsAndHolds_RateAndCountsHold() =>
        StressHarness.RunAsync(Name + ".TokenBucketLimiter", ciRounds: 6, async seed =>
        {
            var random = new Random(seed);
            var time = FakeClock.Create();
            var tokenLimit = random.Next(1, 8);
            var tokensPerPeriod = random.Next(1, 4);
            var period = TimeSpan.FromMilliseconds(random.Next(2, 20));
            var queueLimit = random.Next(0, 2 * Workers);
            using var limiter = new TokenBucketLimiter(new TokenBucketLimiterOptions
            {
                TokenLimit = tokenLimit,
                TokensPerPeriod = tokensPerPeriod,
                ReplenishmentPeriod = period,
                QueueLimit = queueLimit,
                TimeProvider = time,
            });

            var run = await RunWorkersAsync(seed, random, time, limiter, maxPermits: Math.Min(2, tokenLimit), holdMaxMs: 5);

            var context = $"tokenLimit {tokenLimit}, {tokensPerPeriod} per {period.TotalMilliseconds} ms, queue {queueLimit}";
            AssertRate(run.Grants, tokenLimit, tokensPerPeriod / period.TotalSeconds, context);
            AssertCounts(limiter, run, context);
            await time.AdvanceAsync(period * tokenLimit);
            limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(tokenLimit, "the bucket refills to its limit ({0})", context);
        });

    private static async Task<WorkerRun> RunWorkersAsync(int seed, Random random, FakeTimeProvider time, RateLimiter limiter, int maxPermits, int holdMaxMs)
    {
        var run = new WorkerRun();
        var parked = new Task?[Workers];
        var done = new bool[Workers];
        var perWorker = random.Next(200, 300);
        var seeds = Enumerable.Range(0, Workers).Select(_ => random.Next()).ToArray();
        var held = 0;
        var peakHeld = 0;
        var ct = TestContext.Current.CancellationToken;

        async Task ParkAsync(int worker, Task task)
        {
            Volatile.Write(ref parked[worker], task);
            try
            {
                await task;
            }
            finally
            {
                Volatile.Write(ref parked[worker], null);
            }
        }

        async Task WorkAsync(int worker)
        {
            var local = new Random(seeds[worker]);
            try
            {
                for (var i = 0; i < perWorker; i++)
                {
                    var permits = local.Next(1, maxPermits + 1);
                    RateLimitLease lease;
                    if (local.Next(8) == 0)
                    {
                        lease = limiter.AttemptAcquire(permits);
                    }
                    else
                    {
                        var cancelMode = local.Next(6);
                        using var cts = cancelMode switch
                        {
                            0 => new CancellationTokenSource(TimeSpan.FromMilliseconds(local.Next(1, 5)), time),
                            _ => new CancellationTokenSource(),
                        };
                        var pending = limiter.AcquireAsync(permits, cts.Token).AsTask();
                        if (cancelMode == 1)
                        {
                            await cts.CancelAsync();
                        }

                        try
                        {
                            await ParkAsync(worker, pending);
                            lease = await pending;
                        }
                        catch (OperationCanceledException ex) when (ex.CancellationToken == cts.Token)
                        {
                            Interlocked.Increment(ref run.Cancelled);
                            continue;
                        }
                    }

                    using (lease)
                    {
                        if (!lease.IsAcquired)
                        {
                            Interlocked.Increment(ref run.Rejected);
                            await ParkAsync(worker, Task.Delay(TimeSpan.FromMilliseconds(1), time, ct));
                            continue;
                        }

                        run.Grants.Enqueue((time.GetUtcNow(), permits));
                        StressHarness.RaisePeak(ref peakHeld, Interlocked.Increment(ref held));
                        var hold = local.Next(0, holdMaxMs + 1);
                        if (hold > 0)
                        {
                            await ParkAsync(worker, Task.Delay(TimeSpan.FromMilliseconds(hold), time, ct));
                        }

                        Interlocked.Decrement(ref held);
                    }
                }
            }
            finally
            {
                Volatile.Write(ref done[worker], true);
            }
        }

        var workers = Task.WhenAll(Enumerable.Range(0, Workers).Select(w => Task.Run(() => WorkAsync(w), ct)));
        bool AllParkedOrDone()
        {
            for (var w = 0; w < Workers; w++)
            {
                if (!Volatile.Read(ref done[w]) && Volatile.Read(ref parked[w]) is not { IsCompleted: false })
                {
                    return false;
                }
            }

            return true;
        }

        var steps = 0;
        while (!workers.IsCompleted)
        {
            await WaitQuiescentAsync(AllParkedOrDone, workers, seed, ct);
            if (workers.IsCompleted)
            {
                break;
            }

            time.Advance(TimeSpan.FromMilliseconds(1));
            steps++;
            steps.Should().BeLessThan(1_000_000, "the run ends (seed {0})", seed);
        }

        await workers;
        run.PeakHeld = peakHeld;
        run.Attempts = Workers * perWorker;
        return run;
    }

    private static async Task WaitQuiescentAsync(Func<bool> quiescent, Task workers, int seed, CancellationToken ct)
    {
        var start = TimeProvider.System.GetTimestamp();
        var spins = 0;
        while (!quiescent() && !workers.IsCompleted)
        {
            ct.ThrowIfCancellationRequested();
            if (++spins % 32 == 0)
            {
                if (TimeProvider.System.GetElapsedTime(start) > FakeClock.HangTimeout)
                {
                    throw new TimeoutException($"seed {seed}: a worker neither parked nor finished: a hang outside the fake clock.");
                }

                await Task.Yield();
            }
            else
            {
                Thread.Yield();
            }
        }
    }

    /// <summary>In every window [t_i, t_j] of grants, the permits granted are at most capacity + rate × (t_j − t_i).</summary>
    private static void AssertRate(ConcurrentQueue<(DateTimeOffset At, int Permits)> grants, int capacity, double perSecond, string context)
    {
        var sorted = grants.OrderBy(g => g.At).ToArray();
        sorted.Should().NotBeEmpty(context);
        for (var i = 0; i < sorted.Length; i++)
        {
            var permits = 0;
            for (var j = i; j < sorted.Length; j++)
            {
                permits += sorted[j].Permits;
                var allowed = capacity + (perSecond * (sorted[j].At - sorted[i].At).TotalSeconds) + 1e-6;
                if (permits > allowed)
                {
                    throw new InvalidOperationException(
                        $"{permits} permits granted between {sorted[i].At:HH:mm:ss.fff} and {sorted[j].At:HH:mm:ss.fff}, more than {allowed:F3} ({context}).");
                }
            }
        }
    }

    private static void AssertCounts(RateLimiter limiter, WorkerRun run, string context)
    {
        var statistics = limiter.GetStatistics()!;
        (run.Grants.Count + run.Rejected + run.Cancelled).Should().Be(run.Attempts, "every acquire has one outcome ({0})", context);
        statistics.CurrentQueuedCount.Should().Be(0, context);
        statistics.TotalSuccessfulLeases.Should().Be(run.Grants.Count, "nothing double-counted ({0})", context);
        statistics.TotalFailedLeases.Should().Be(run.Rejected, context);
    }

    private sealed class WorkerRun
    {
        public int Rejected;
        public int Cancelled;

        public ConcurrentQueue<(DateTimeOffset At, int Permits)> Grants { get; } = new();

        public int PeakHeld { get; set; }

        public int Attempts { get; set; }
    }
}
