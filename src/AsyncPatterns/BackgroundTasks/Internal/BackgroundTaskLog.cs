using Microsoft.Extensions.Logging;

namespace AsyncPatterns.BackgroundTasks.Internal;

/// <summary>
/// The log events of <see cref="BackgroundTaskTracker"/>. Every method is contained: a logger that throws (as
/// Microsoft.Extensions.Logging does, with an <see cref="AggregateException"/>, when a provider fails) loses that one entry
/// and nothing else, so the tracker's accounting never depends on its logger.
/// </summary>
internal static partial class BackgroundTaskLog
{
    public const int TaskFaultedId = 1;
    public const int AbandonedTaskFaultedId = 2;
    public const int StoppingHostId = 3;
    public const int ShutdownCompletedId = 4;
    public const int ShutdownAbandonedId = 5;
    public const int CancellationCallbackFailedId = 6;
    public const int HostGaveUpId = 7;
    public const int StopApplicationFailedId = 8;
    public const int ClockFailedId = 9;

    public static void TaskFaulted(ILogger logger, Exception exception, string taskName)
    {
        try
        {
            LogTaskFaulted(logger, exception, taskName);
        }
        catch (Exception)
        {
            // A failing logger loses this entry only (see the class remarks).
        }
    }

    public static void AbandonedTaskFaulted(ILogger logger, Exception exception, string taskName)
    {
        try
        {
            LogAbandonedTaskFaulted(logger, exception, taskName);
        }
        catch (Exception)
        {
            // A failing logger loses this entry only (see the class remarks).
        }
    }

    public static void StoppingHost(ILogger logger, string taskName)
    {
        try
        {
            LogStoppingHost(logger, taskName);
        }
        catch (Exception)
        {
            // A failing logger loses this entry only (see the class remarks).
        }
    }

    public static void ShutdownCompleted(ILogger logger, TimeSpan elapsed, ShutdownReport report)
    {
        try
        {
            LogShutdownCompleted(logger, elapsed, report);
        }
        catch (Exception)
        {
            // A failing logger loses this entry only (see the class remarks).
        }
    }

    public static void ShutdownAbandoned(ILogger logger, TimeSpan elapsed, ShutdownReport report)
    {
        try
        {
            LogShutdownAbandoned(logger, elapsed, report);
        }
        catch (Exception)
        {
            // A failing logger loses this entry only (see the class remarks).
        }
    }

    public static void CancellationCallbackFailed(ILogger logger, Exception exception)
    {
        try
        {
            LogCancellationCallbackFailed(logger, exception);
        }
        catch (Exception)
        {
            // A failing logger loses this entry only (see the class remarks).
        }
    }

    public static void HostGaveUp(ILogger logger)
    {
        try
        {
            LogHostGaveUp(logger);
        }
        catch (Exception)
        {
            // A failing logger loses this entry only (see the class remarks).
        }
    }

    public static void StopApplicationFailed(ILogger logger, Exception exception, string taskName)
    {
        try
        {
            LogStopApplicationFailed(logger, exception, taskName);
        }
        catch (Exception)
        {
            // A failing logger loses this entry only (see the class remarks).
        }
    }

    public static void ClockFailed(ILogger logger, Exception exception, string taskName)
    {
        try
        {
            LogClockFailed(logger, exception, taskName);
        }
        catch (Exception)
        {
            // A failing logger loses this entry only (see the class remarks).
        }
    }

    [LoggerMessage(TaskFaultedId, LogLevel.Error, "Background task '{TaskName}' faulted.")]
    private static partial void LogTaskFaulted(ILogger logger, Exception exception, string taskName);

    [LoggerMessage(AbandonedTaskFaultedId, LogLevel.Error, "Background task '{TaskName}' faulted after the shutdown had abandoned it.")]
    private static partial void LogAbandonedTaskFaulted(ILogger logger, Exception exception, string taskName);

    [LoggerMessage(StoppingHostId, LogLevel.Critical, "Stopping the application because background task '{TaskName}' faulted.")]
    private static partial void LogStoppingHost(ILogger logger, string taskName);

    [LoggerMessage(ShutdownCompletedId, LogLevel.Information, "Background tasks shut down in {Elapsed}: {Report}.")]
    private static partial void LogShutdownCompleted(ILogger logger, TimeSpan elapsed, ShutdownReport report);

    [LoggerMessage(ShutdownAbandonedId, LogLevel.Warning, "Background tasks shut down in {Elapsed} with work left behind: {Report}.")]
    private static partial void LogShutdownAbandoned(ILogger logger, TimeSpan elapsed, ShutdownReport report);

    [LoggerMessage(CancellationCallbackFailedId, LogLevel.Warning, "A cancellation callback of a background task threw during shutdown.")]
    private static partial void LogCancellationCallbackFailed(ILogger logger, Exception exception);

    [LoggerMessage(HostGaveUpId, LogLevel.Warning, "The host's shutdown timeout ended before the background tasks' shutdown did.")]
    private static partial void LogHostGaveUp(ILogger logger);

    [LoggerMessage(StopApplicationFailedId, LogLevel.Error, "Stopping the application after background task '{TaskName}' faulted threw; the tracker goes on.")]
    private static partial void LogStopApplicationFailed(ILogger logger, Exception exception, string taskName);

    [LoggerMessage(ClockFailedId, LogLevel.Error, "The TimeProvider threw when background task '{TaskName}' ended; its duration is recorded as zero and the tracker goes on.")]
    private static partial void LogClockFailed(ILogger logger, Exception exception, string taskName);
}
