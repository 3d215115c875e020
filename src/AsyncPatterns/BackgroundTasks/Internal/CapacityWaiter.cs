namespace AsyncPatterns.BackgroundTasks.Internal;

/// <summary>A <see cref="BackgroundTaskTracker.StartAsync"/> call waiting for capacity.</summary>
internal sealed class CapacityWaiter : TaskCompletionSource
{
    public CapacityWaiter(TrackedTask task, CancellationToken cancellationToken)
        : base(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        Tracked = task;
        CancellationToken = cancellationToken;
    }

    public TrackedTask Tracked { get; }

    public CancellationToken CancellationToken { get; }

    /// <summary>Set under the tracker's lock once the waiter is admitted, cancelled or rejected.</summary>
    public bool Done { get; set; }

    public CancellationTokenRegistration Registration { get; set; }
}
