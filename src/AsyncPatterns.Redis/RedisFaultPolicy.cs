namespace AsyncPatterns.Redis;

/// <summary>What a <see cref="RedisRateLimiter"/> does while Redis cannot be reached, or does not answer within <see cref="RedisRateLimiterOptions.OperationTimeout"/>.</summary>
public enum RedisFaultPolicy
{
    /// <summary>
    /// Grant nothing: the acquire completes with a lease whose <see cref="System.Threading.RateLimiting.RateLimitLease.IsAcquired"/>
    /// is <see langword="false"/>, carrying the reason in its <see cref="System.Threading.RateLimiting.MetadataName.ReasonPhrase"/>
    /// metadata, and a warning is logged when Redis becomes unavailable. The shared limits are never exceeded.
    /// </summary>
    FailClosed,

    /// <summary>
    /// Serve acquires from a local, in-process limiter running at <see cref="RedisRateLimiterOptions.FailoverFraction"/>
    /// of the shared limits until Redis answers again. Each instance admits up to that fraction on its own, so with N
    /// instances the total during an outage is N × fraction × the limit: set the fraction to 1/N to keep the limit.
    /// </summary>
    FailOverToLocal,
}
