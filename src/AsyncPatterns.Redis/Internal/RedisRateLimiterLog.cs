using Microsoft.Extensions.Logging;

namespace AsyncPatterns.Redis.Internal;

/// <summary>
/// The limiter's log events. A logger is code the limiter does not own: every call is contained, so a throwing
/// provider never breaks an acquire, a release or the queue.
/// </summary>
internal static class RedisRateLimiterLog
{
    private static readonly Action<ILogger, string, string, string, Exception?> s_unavailable =
        LoggerMessage.Define<string, string, string>(
            LogLevel.Warning,
            new EventId(1, "RedisUnavailable"),
            "Redis rate limiter '{Key}': Redis is unavailable ({Reason}); applying the {FaultPolicy} policy until it answers again.");

    private static readonly Action<ILogger, string, Exception?> s_recovered =
        LoggerMessage.Define<string>(
            LogLevel.Information,
            new EventId(2, "RedisRecovered"),
            "Redis rate limiter '{Key}': Redis answers again; the shared limits apply.");

    private static readonly Action<ILogger, string, Exception?> s_releaseFailed =
        LoggerMessage.Define<string>(
            LogLevel.Warning,
            new EventId(3, "ReleaseFailed"),
            "Redis rate limiter '{Key}': releasing a concurrency permit failed; Redis reclaims it when its lease time runs out.");

    private static readonly Action<ILogger, string, int, Exception?> s_leaseLost =
        LoggerMessage.Define<string, int>(
            LogLevel.Warning,
            new EventId(4, "LeaseLost"),
            "Redis rate limiter '{Key}': {Count} held lease(s) had been reclaimed before they were renewed (their holder could not reach Redis for the lease time); other processes may hold those permits now.");

    private static readonly Action<ILogger, string, Exception?> s_renewFailed =
        LoggerMessage.Define<string>(
            LogLevel.Warning,
            new EventId(5, "RenewFailed"),
            "Redis rate limiter '{Key}': renewing the held leases failed; retrying at the next renewal.");

    private static readonly Action<ILogger, string, Exception?> s_subscribeFailed =
        LoggerMessage.Define<string>(
            LogLevel.Warning,
            new EventId(6, "SubscribeFailed"),
            "Redis rate limiter '{Key}': subscribing to release notifications failed; waiters for a concurrency permit wake at the earliest lease expiry instead.");

    private static readonly Action<ILogger, string, Exception?> s_unexpected =
        LoggerMessage.Define<string>(
            LogLevel.Error,
            new EventId(7, "QueueFaulted"),
            "Redis rate limiter '{Key}': serving the queue failed unexpectedly; the waiters were failed.");

    public static void Unavailable(ILogger logger, string key, string reason, RedisFaultPolicy policy, Exception? exception) =>
        Safe(() => s_unavailable(logger, key, reason, policy.ToString(), exception));

    public static void Recovered(ILogger logger, string key) => Safe(() => s_recovered(logger, key, null));

    public static void ReleaseFailed(ILogger logger, string key, Exception exception) => Safe(() => s_releaseFailed(logger, key, exception));

    public static void LeaseLost(ILogger logger, string key, int count) => Safe(() => s_leaseLost(logger, key, count, null));

    public static void RenewFailed(ILogger logger, string key, Exception exception) => Safe(() => s_renewFailed(logger, key, exception));

    public static void SubscribeFailed(ILogger logger, string key, Exception exception) => Safe(() => s_subscribeFailed(logger, key, exception));

    public static void QueueFaulted(ILogger logger, string key, Exception exception) => Safe(() => s_unexpected(logger, key, exception));

    private static void Safe(Action log)
    {
        try
        {
            log();
        }
#pragma warning disable CA1031 // A failing logging provider must not break the limiter.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }
}
