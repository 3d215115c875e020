using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.Redis;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using RedisRateLimiting;
using RedisRateLimiterOptions = AsyncPatterns.Redis.RedisRateLimiterOptions;
using StackExchange.Redis;

namespace AsyncPatterns.Benchmarks;

/// <summary>
/// <see cref="RedisRateLimiter"/> against the <c>RedisRateLimiting</c> package on the same loopback Redis (the one of
/// <c>ASYNCPATTERNS_REDIS</c>; <c>source .ci/redis.sh</c> starts one): one acquire + release at a time (latency), and
/// 256 acquires in flight from one process (grants per second = 256 / the mean), for a rate limit (their token bucket
/// is the baseline) and a concurrency limit (their concurrency limiter is the baseline); and the in-process
/// <see cref="RequestRateLimiter"/> for the cost of going to Redis at all. The limits are set high enough never to be
/// what limits a benchmark.
/// </summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class RedisRateLimiterBenchmarks
{
    private const int InFlight = 256;

    private ConnectionMultiplexer _multiplexer = null!;
    private RedisRateLimiter _ourRate = null!;
    private RedisRateLimiter _ourConcurrency = null!;
    private RateLimiter _theirTokenBucket = null!;
    private RateLimiter _theirConcurrency = null!;
    private RequestRateLimiter _inProcess = null!;

    [GlobalSetup]
    public void Setup()
    {
        var endpoint = Environment.GetEnvironmentVariable("ASYNCPATTERNS_REDIS");
        if (string.IsNullOrEmpty(endpoint))
        {
            throw new InvalidOperationException("Set ASYNCPATTERNS_REDIS (source .ci/redis.sh starts a redis-server and sets it).");
        }

        _multiplexer = ConnectionMultiplexer.Connect(endpoint);
        var run = Guid.NewGuid().ToString("N");
        _ourRate = new RedisRateLimiter(new RedisRateLimiterOptions
        {
            ConnectionMultiplexer = _multiplexer,
            Key = $"bench:{run}:ours-rate",
            PermitsPerSecond = RedisRateLimiterOptions.MaxPermitsPerSecond,
            Burst = 1_000_000,
        });
        _ourConcurrency = new RedisRateLimiter(new RedisRateLimiterOptions
        {
            ConnectionMultiplexer = _multiplexer,
            Key = $"bench:{run}:ours-concurrency",
            MaxConcurrency = 100_000,
        });
        _theirTokenBucket = new RedisTokenBucketRateLimiter<string>($"bench:{run}:theirs-rate", new RedisTokenBucketRateLimiterOptions
        {
            ConnectionMultiplexerFactory = () => _multiplexer,
            TokenLimit = 1_000_000,
            TokensPerPeriod = 1_000_000,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
        });
        _theirConcurrency = new RedisConcurrencyRateLimiter<string>($"bench:{run}:theirs-concurrency", new RedisConcurrencyRateLimiterOptions
        {
            ConnectionMultiplexerFactory = () => _multiplexer,
            PermitLimit = 100_000,
            QueueLimit = 0,
        });
        _inProcess = new RequestRateLimiter(new RequestRateLimiterOptions
        {
            PermitsPerSecond = RedisRateLimiterOptions.MaxPermitsPerSecond,
            Burst = 1_000_000,
            MaxConcurrency = 100_000,
        });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _ourRate.Dispose();
        _ourConcurrency.Dispose();
        _theirTokenBucket.Dispose();
        _theirConcurrency.Dispose();
        _inProcess.Dispose();
        _multiplexer.Dispose();
    }

    [Benchmark(Baseline = true, Description = "RedisRateLimiting token bucket: acquire + release")]
    [BenchmarkCategory("Rate, one at a time")]
    public Task TheirTokenBucket() => OneAsync(_theirTokenBucket);

    [Benchmark(Description = "RedisRateLimiter (rate): acquire + release")]
    [BenchmarkCategory("Rate, one at a time")]
    public Task OurRate() => OneAsync(_ourRate);

    [Benchmark(Description = "RequestRateLimiter (in-process): acquire + release")]
    [BenchmarkCategory("Rate, one at a time")]
    public Task InProcess() => OneAsync(_inProcess);

    [Benchmark(Baseline = true, Description = "RedisRateLimiting token bucket: 256 in flight", OperationsPerInvoke = InFlight)]
    [BenchmarkCategory("Rate, 256 in flight")]
    public Task TheirTokenBucketInFlight() => ManyAsync(_theirTokenBucket);

    [Benchmark(Description = "RedisRateLimiter (rate): 256 in flight", OperationsPerInvoke = InFlight)]
    [BenchmarkCategory("Rate, 256 in flight")]
    public Task OurRateInFlight() => ManyAsync(_ourRate);

    [Benchmark(Baseline = true, Description = "RedisRateLimiting concurrency: acquire + release")]
    [BenchmarkCategory("Concurrency, one at a time")]
    public Task TheirConcurrency() => OneAsync(_theirConcurrency);

    [Benchmark(Description = "RedisRateLimiter (concurrency): acquire + release")]
    [BenchmarkCategory("Concurrency, one at a time")]
    public Task OurConcurrency() => OneAsync(_ourConcurrency);

    [Benchmark(Baseline = true, Description = "RedisRateLimiting concurrency: 256 in flight", OperationsPerInvoke = InFlight)]
    [BenchmarkCategory("Concurrency, 256 in flight")]
    public Task TheirConcurrencyInFlight() => ManyAsync(_theirConcurrency);

    [Benchmark(Description = "RedisRateLimiter (concurrency): 256 in flight", OperationsPerInvoke = InFlight)]
    [BenchmarkCategory("Concurrency, 256 in flight")]
    public Task OurConcurrencyInFlight() => ManyAsync(_ourConcurrency);

    private static async Task OneAsync(RateLimiter limiter)
    {
        using var lease = await limiter.AcquireAsync(1);
        if (!lease.IsAcquired)
        {
            throw new InvalidOperationException("A benchmark lease was rejected: the limits are too low.");
        }
    }

    private static Task ManyAsync(RateLimiter limiter)
    {
        var tasks = new Task[InFlight];
        for (var i = 0; i < tasks.Length; i++)
        {
            tasks[i] = OneAsync(limiter);
        }

        return Task.WhenAll(tasks);
    }
}
