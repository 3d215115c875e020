using System.Threading.RateLimiting;
using AsyncPatterns.Internal;

namespace AsyncPatterns.Redis.Internal;

/// <summary>
/// The rules of <see cref="RedisRateLimiterOptions"/>, checked by the limiter's constructor and at host start, each
/// failure in the form <c>RedisRateLimiterOptions.&lt;Property&gt; must be … (was …).</c>
/// </summary>
internal sealed class RedisRateLimiterOptionsValidator : OptionsValidator<RedisRateLimiterOptions>
{
    public static readonly RedisRateLimiterOptionsValidator Instance = new();

    private RedisRateLimiterOptionsValidator()
    {
    }

    public override string TypeName => nameof(RedisRateLimiterOptions);

    public override void Collect(RedisRateLimiterOptions options, string path, List<string> failures)
    {
        Require(options.ConnectionMultiplexer is not null, failures, path, nameof(RedisRateLimiterOptions.ConnectionMultiplexer), "set", null);
        Require(!string.IsNullOrEmpty(options.Key), failures, path, nameof(RedisRateLimiterOptions.Key), "a non-empty string",
            options.Key is null ? "null" : "empty");
        Require(options.Database >= -1, failures, path, nameof(RedisRateLimiterOptions.Database), "-1 or more", options.Database);

        var rate = options.PermitsPerSecond;
        var rateValid = rate is >= RedisRateLimiterOptions.MinPermitsPerSecond and <= RedisRateLimiterOptions.MaxPermitsPerSecond
            || double.IsPositiveInfinity(rate);
        Require(rateValid, failures, path, nameof(RedisRateLimiterOptions.PermitsPerSecond),
            "between 1E-06 and 1E+06, or PositiveInfinity for no rate limit", rate);
        Require(options.Burst >= 1 && (!rateValid || double.IsPositiveInfinity(rate) || options.Burst / rate <= 1e8), failures, path,
            nameof(RedisRateLimiterOptions.Burst), "at least 1 and at most 1E+08 seconds' worth of PermitsPerSecond", options.Burst);
        Require(options.MaxConcurrency >= 1, failures, path, nameof(RedisRateLimiterOptions.MaxConcurrency), "at least 1", options.MaxConcurrency);
        Require(!(options.MaxConcurrency == int.MaxValue && double.IsPositiveInfinity(rate)), failures, path,
            nameof(RedisRateLimiterOptions.PermitsPerSecond),
            "finite when MaxConcurrency is int.MaxValue (a shared limiter must limit something)", rate);
        Require(options.QueueLimit >= 0, failures, path, nameof(RedisRateLimiterOptions.QueueLimit), "zero or more", options.QueueLimit);
        Require(options.QueueProcessingOrder is QueueProcessingOrder.OldestFirst or QueueProcessingOrder.NewestFirst, failures, path,
            nameof(RedisRateLimiterOptions.QueueProcessingOrder), "OldestFirst or NewestFirst", options.QueueProcessingOrder);
        Require(options.LeaseTime >= RedisRateLimiterOptions.MinLeaseTime && options.LeaseTime <= RedisRateLimiterOptions.MaxLeaseTime,
            failures, path, nameof(RedisRateLimiterOptions.LeaseTime), "between 100 milliseconds and 1 day", options.LeaseTime);
        Require(options.OperationTimeout > TimeSpan.Zero && options.OperationTimeout <= RedisRateLimiterOptions.MaxOperationTimeout,
            failures, path, nameof(RedisRateLimiterOptions.OperationTimeout), "positive and at most 5 minutes", options.OperationTimeout);
        Require(options.FaultPolicy is RedisFaultPolicy.FailClosed or RedisFaultPolicy.FailOverToLocal, failures, path,
            nameof(RedisRateLimiterOptions.FaultPolicy), "FailClosed or FailOverToLocal", options.FaultPolicy);
        Require(options.FailoverFraction is > 0 and <= 1, failures, path, nameof(RedisRateLimiterOptions.FailoverFraction),
            "greater than 0 and at most 1", options.FailoverFraction);
        Require(options.TimeProvider is not null, failures, path, nameof(RedisRateLimiterOptions.TimeProvider), "set", null);
    }
}
