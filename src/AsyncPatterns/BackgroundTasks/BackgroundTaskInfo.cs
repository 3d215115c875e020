namespace AsyncPatterns.BackgroundTasks;

/// <summary>One running task in a <see cref="BackgroundTaskTracker.Snapshot"/>.</summary>
/// <param name="Name">The task's name: the one given when it was started, or <c>background-task-N</c>.</param>
/// <param name="Age">How long the task has been running, measured on the tracker's <see cref="TimeProvider"/>.</param>
public readonly record struct BackgroundTaskInfo(string Name, TimeSpan Age);
