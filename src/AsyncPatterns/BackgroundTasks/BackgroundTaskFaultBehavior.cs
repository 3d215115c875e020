namespace AsyncPatterns.BackgroundTasks;

/// <summary>What a <see cref="BackgroundTaskTracker"/> does when a task it runs faults.</summary>
public enum BackgroundTaskFaultBehavior
{
    /// <summary>Log the fault once, with the task's name, and keep running. The default.</summary>
    Log = 0,

    /// <summary>
    /// Log the fault once, with the task's name, then stop the application through
    /// <c>IHostApplicationLifetime.StopApplication</c>. Only available for a tracker registered with
    /// <c>services.AddBackgroundTaskTracker(...)</c> in a host.
    /// </summary>
    LogAndStopHost = 1,
}
