using Microsoft.Extensions.Logging;

namespace AsyncPatterns.Connections.Internal;

/// <summary>
/// The connection pool's log events (high-performance <see cref="LoggerMessage"/> delegates). A logger that throws
/// (Microsoft.Extensions.Logging rethrows a failing provider's error as <see cref="AggregateException"/>) never reaches
/// the pool: the failure is reported as <c>BackgroundWorkFailed</c> carrying the logger's exception, and dropped if
/// that write fails too, so a log call can never crash a timer thread, break the pool's accounting or fault a task.
/// </summary>
internal static class ConnectionPoolLog
{
    private static readonly Action<ILogger, string, TimeSpan, TimeSpan, string, Exception?> s_leak =
        LoggerMessage.Define<string, TimeSpan, TimeSpan, string>(
            LogLevel.Warning,
            new EventId(1, "ConnectionLeakSuspected"),
            "Connection pool '{PoolName}': a connection has been leased for {HeldFor}, longer than the leak detection threshold {Threshold}. It was acquired at:\n{AcquiredAt}");

    private static readonly Action<ILogger, string, Exception?> s_createFailed =
        LoggerMessage.Define<string>(
            LogLevel.Error,
            new EventId(2, "BackgroundCreateFailed"),
            "Connection pool '{PoolName}': creating a connection in the background (to keep MinSize) failed; the pool retries at its next housekeeping pass.");

    private static readonly Action<ILogger, string, Exception?> s_destroyFailed =
        LoggerMessage.Define<string>(
            LogLevel.Warning,
            new EventId(3, "DestroyFailed"),
            "Connection pool '{PoolName}': destroying a connection failed.");

    private static readonly Action<ILogger, string, Exception?> s_resetFailed =
        LoggerMessage.Define<string>(
            LogLevel.Warning,
            new EventId(4, "ResetFailed"),
            "Connection pool '{PoolName}': resetting a returned connection failed; the connection is destroyed.");

    private static readonly Action<ILogger, string, Exception?> s_validateFailed =
        LoggerMessage.Define<string>(
            LogLevel.Information,
            new EventId(5, "ValidateFailed"),
            "Connection pool '{PoolName}': an idle connection failed validation and is destroyed.");

    private static readonly Action<ILogger, string, TimeSpan, int, Exception?> s_drainTimedOut =
        LoggerMessage.Define<string, TimeSpan, int>(
            LogLevel.Warning,
            new EventId(6, "DrainTimedOut"),
            "Connection pool '{PoolName}': {DrainTimeout} passed while disposing; {Count} leased connection(s) were destroyed without being returned.");

    private static readonly Action<ILogger, string, TimeSpan, Exception?> s_cleanupTimedOut =
        LoggerMessage.Define<string, TimeSpan>(
            LogLevel.Warning,
            new EventId(7, "CleanupTimedOut"),
            "Connection pool '{PoolName}': destroy hooks were still running {DrainTimeout} after disposal began; DisposeAsync returns without waiting for them.");

    private static readonly Action<ILogger, string, Exception?> s_backgroundFailed =
        LoggerMessage.Define<string>(
            LogLevel.Error,
            new EventId(8, "BackgroundWorkFailed"),
            "Connection pool '{PoolName}': background work failed.");

    public static void LeakSuspected(ILogger logger, string pool, TimeSpan heldFor, TimeSpan threshold, string acquiredAt)
    {
        try
        {
            s_leak(logger, pool, heldFor, threshold, acquiredAt, null);
        }
        catch (Exception ex)
        {
            LoggerFailed(logger, pool, ex);
        }
    }

    public static void CreateFailed(ILogger logger, string pool, Exception exception)
    {
        try
        {
            s_createFailed(logger, pool, exception);
        }
        catch (Exception ex)
        {
            LoggerFailed(logger, pool, ex);
        }
    }

    public static void DestroyFailed(ILogger logger, string pool, Exception exception)
    {
        try
        {
            s_destroyFailed(logger, pool, exception);
        }
        catch (Exception ex)
        {
            LoggerFailed(logger, pool, ex);
        }
    }

    public static void ResetFailed(ILogger logger, string pool, Exception exception)
    {
        try
        {
            s_resetFailed(logger, pool, exception);
        }
        catch (Exception ex)
        {
            LoggerFailed(logger, pool, ex);
        }
    }

    public static void ValidateFailed(ILogger logger, string pool, Exception? exception)
    {
        try
        {
            s_validateFailed(logger, pool, exception);
        }
        catch (Exception ex)
        {
            LoggerFailed(logger, pool, ex);
        }
    }

    public static void DrainTimedOut(ILogger logger, string pool, TimeSpan drainTimeout, int count)
    {
        try
        {
            s_drainTimedOut(logger, pool, drainTimeout, count, null);
        }
        catch (Exception ex)
        {
            LoggerFailed(logger, pool, ex);
        }
    }

    public static void CleanupTimedOut(ILogger logger, string pool, TimeSpan drainTimeout)
    {
        try
        {
            s_cleanupTimedOut(logger, pool, drainTimeout, null);
        }
        catch (Exception ex)
        {
            LoggerFailed(logger, pool, ex);
        }
    }

    public static void BackgroundFailed(ILogger logger, string pool, Exception exception) => LoggerFailed(logger, pool, exception);

    private static void LoggerFailed(ILogger logger, string pool, Exception exception)
    {
        try
        {
            s_backgroundFailed(logger, pool, exception);
        }
        catch (Exception)
        {
            // The logger fails even for this event: there is no channel left to report on, and the pool must go on.
        }
    }
}
