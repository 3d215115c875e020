namespace AsyncPatterns.BackgroundTasks;

/// <summary>A task that faulted during a shutdown, as listed in <see cref="ShutdownReport.Faulted"/>.</summary>
/// <param name="Name">The task's name.</param>
/// <param name="Exception">The exception the task ended with.</param>
public sealed record BackgroundTaskFault(string Name, Exception Exception);
