using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace AsyncPatterns.Benchmarks;

/// <summary>
/// <see cref="RequestRateLimiter"/> against the BCL: an uncontended acquire and release (the chained
/// <see cref="ConcurrencyLimiter"/> + <see cref="TokenBucketRateLimiter"/> pair is the baseline, with the concurrency
/// limiter alone beside it), the token bucket alone against the BCL token bucket, and throughput under contention
/// (16 tasks, concurrency 4, no rate limit) against <see cref="SemaphoreSlim"/>.
/// </summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class RateLimitingBenchmarks
{
    private const int Tasks = 16;
    private const int RoundsPerTask = 256;

    // A rate high enough never to be what limits a benchmark, with a bucket that absorbs a burst of a million.
    private const int BucketSize = 1_000_000;

    private ConcurrencyLimiter _bclConcurrency = null!;
    private TokenBucketRateLimiter _bclTokenBucket = null!;
    private RateLimiter _bclChained = null!;
    private RequestRateLimiter _requestLimiter = null!;
    private TokenBucketLimiter _tokenBucket = null!;
    private ConcurrencyLimiter _bclContended = null!;
    private RequestRateLimiter _requestContended = null!;
    private SemaphoreSlim _semaphore = null!;

    [GlobalSetup]
    public void Setup()
    {
        _bclConcurrency = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 4, QueueLimit = 0 });
        _bclTokenBucket = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = BucketSize,
            TokensPerPeriod = BucketSize,
            ReplenishmentPeriod = TimeSpan.FromMilliseconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        });
        _bclChained = RateLimiter.CreateChained(
            new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 4, QueueLimit = 0 }),
            new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = BucketSize,
                TokensPerPeriod = BucketSize,
                ReplenishmentPeriod = TimeSpan.FromMilliseconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            }));
        _requestLimiter = new RequestRateLimiter(new RequestRateLimiterOptions
        {
            MaxConcurrency = 4,
            PermitsPerSecond = 1e9,
            Burst = BucketSize,
            QueueLimit = 0,
        });
        _tokenBucket = new TokenBucketLimiter(new TokenBucketLimiterOptions
        {
            TokenLimit = BucketSize,
            TokensPerPeriod = BucketSize,
            ReplenishmentPeriod = TimeSpan.FromMilliseconds(1),
        });
        _bclContended = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 4, QueueLimit = int.MaxValue });
        _requestContended = new RequestRateLimiter(new RequestRateLimiterOptions { MaxConcurrency = 4 });
        _semaphore = new SemaphoreSlim(4, 4);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _bclConcurrency.Dispose();
        _bclTokenBucket.Dispose();
        _bclChained.Dispose();
        _requestLimiter.Dispose();
        _tokenBucket.Dispose();
        _bclContended.Dispose();
        _requestContended.Dispose();
        _semaphore.Dispose();
    }

    [BenchmarkCategory("Uncontended"), Benchmark(Baseline = true, Description = "BCL chained Concurrency+TokenBucket")]
    public bool Chained() => AcquireAndRelease(_bclChained);

    [BenchmarkCategory("Uncontended"), Benchmark(Description = "BCL ConcurrencyLimiter alone")]
    public bool ConcurrencyOnly() => AcquireAndRelease(_bclConcurrency);

    [BenchmarkCategory("Uncontended"), Benchmark(Description = "RequestRateLimiter")]
    public bool Request() => AcquireAndRelease(_requestLimiter);

    [BenchmarkCategory("TokenBucket"), Benchmark(Baseline = true, Description = "BCL TokenBucketRateLimiter")]
    public bool BclTokenBucket() => AcquireAndRelease(_bclTokenBucket);

    [BenchmarkCategory("TokenBucket"), Benchmark(Description = "TokenBucketLimiter")]
    public bool TokenBucket() => AcquireAndRelease(_tokenBucket);

    [BenchmarkCategory("Contended"), Benchmark(Baseline = true, OperationsPerInvoke = Tasks * RoundsPerTask, Description = "SemaphoreSlim, 16 tasks, 4 permits")]
    public Task Semaphore()
    {
        var tasks = new Task[Tasks];
        for (var i = 0; i < tasks.Length; i++)
        {
            tasks[i] = Task.Run(async () =>
            {
                for (var r = 0; r < RoundsPerTask; r++)
                {
                    await _semaphore.WaitAsync().ConfigureAwait(false);
                    try
                    {
                        await Task.Yield();
                    }
                    finally
                    {
                        _semaphore.Release();
                    }
                }
            });
        }

        return Task.WhenAll(tasks);
    }

    [BenchmarkCategory("Contended"), Benchmark(OperationsPerInvoke = Tasks * RoundsPerTask, Description = "BCL ConcurrencyLimiter, 16 tasks, 4 permits")]
    public Task BclConcurrencyContended() => Contend(_bclContended);

    [BenchmarkCategory("Contended"), Benchmark(OperationsPerInvoke = Tasks * RoundsPerTask, Description = "RequestRateLimiter, 16 tasks, 4 permits")]
    public Task RequestContended() => Contend(_requestContended);

    private static bool AcquireAndRelease(RateLimiter limiter)
    {
        var pending = limiter.AcquireAsync(1);
        using var lease = pending.IsCompletedSuccessfully ? pending.Result : throw new InvalidOperationException("The limiter had no free permit.");
        return lease.IsAcquired;
    }

    private static Task Contend(RateLimiter limiter)
    {
        var tasks = new Task[Tasks];
        for (var i = 0; i < tasks.Length; i++)
        {
            tasks[i] = Task.Run(async () =>
            {
                for (var r = 0; r < RoundsPerTask; r++)
                {
                    using var lease = await limiter.AcquireAsync(1).ConfigureAwait(false);
                    await Task.Yield();
                }
            });
        }

        return Task.WhenAll(tasks);
    }
}
