using System.Diagnostics.Metrics;
using System.Reflection;

namespace AsyncPatterns.Redis.Internal;

/// <summary>
/// The limiter's instruments, on a <see cref="Meter"/> named <c>AsyncPatterns</c> like the main package's, so
/// <c>AddMeter("AsyncPatterns")</c> picks them up. Each carries the limiter's key as <c>asyncpatterns.rate_limiter.key</c>.
/// </summary>
internal static class RedisRateLimiterMetrics
{
    public const string KeyTag = "asyncpatterns.rate_limiter.key";

    private static readonly Meter s_meter = new(
        "AsyncPatterns",
        typeof(RedisRateLimiterMetrics).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion);

    public static readonly Counter<long> Leases = s_meter.CreateCounter<long>(
        "asyncpatterns.redis.rate_limiter.leases", "{lease}",
        "Leases completed by RedisRateLimiter, by outcome (granted, rejected, fault_rejected, failover).");

    public static readonly Counter<long> RoundTrips = s_meter.CreateCounter<long>(
        "asyncpatterns.redis.rate_limiter.round_trips", "{call}",
        "Script calls RedisRateLimiter sent to Redis, by operation (acquire, release, renew).");

    public static readonly Counter<long> Faults = s_meter.CreateCounter<long>(
        "asyncpatterns.redis.rate_limiter.faults", "{fault}",
        "Redis calls of RedisRateLimiter that failed or timed out.");
}
