using Microsoft.Extensions.Logging;

namespace AsyncPatterns.BackgroundTasks.Internal;

/// <summary>The log events of <see cref="BackgroundTaskTracker"/>.</summary>
internal static partial class BackgroundTaskLog
{
    public const int TaskFaultedId = 1;
    public const int AbandonedTaskFaultedId = 2;
    public const int StoppingHostId = 3;
    public const int ShutdownCompletedId = 4;
    public const int ShutdownAbandonedId = 5;
    public const int CancellationCallbackFailedId = 6;
    public const int HostGaveUpId = 7;

    [LoggerMessage(TaskFaultedId, LogLevel.Error, "Background task '{TaskName}' faulted.")]
    public static partial void TaskFaulted(ILogger logger, Exception exception, string taskName);

    [LoggerMessage(AbandonedTaskFaultedId, LogLevel.Error, "Background task '{TaskName}' faulted after the shutdown had abandoned it.")]
    public static partial void AbandonedTaskFaulted(ILogger logger, Exception exception, string taskName);

    [LoggerMessage(StoppingHostId, LogLevel.Critical, "Stopping the application because background task '{TaskName}' faulted.")]
    public static partial void StoppingHost(ILogger logger, string taskName);

    [LoggerMessage(ShutdownCompletedId, LogLevel.Information, "Background tasks shut down in {Elapsed}: {Report}.")]
    public static partial void ShutdownCompleted(ILogger logger, TimeSpan elapsed, ShutdownReport report);

    [LoggerMessage(ShutdownAbandonedId, LogLevel.Warning, "Background tasks shut down in {Elapsed} with work left behind: {Report}.")]
    public static partial void ShutdownAbandoned(ILogger logger, TimeSpan elapsed, ShutdownReport report);

    [LoggerMessage(CancellationCallbackFailedId, LogLevel.Warning, "A cancellation callback of a background task threw during shutdown.")]
    public static partial void CancellationCallbackFailed(ILogger logger, Exception exception);

    [LoggerMessage(HostGaveUpId, LogLevel.Warning, "The host's shutdown timeout ended before the background tasks' shutdown did.")]
    public static partial void HostGaveUp(ILogger logger);
}
