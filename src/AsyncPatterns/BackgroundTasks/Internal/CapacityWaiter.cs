namespace AsyncPatterns.BackgroundTasks.Internal;

/// <summary>
/// A <see cref="BackgroundTaskTracker.StartAsync"/> call waiting for capacity: a node of the tracker's waiter list, unlinked
/// under the tracker's lock when it is admitted, cancelled (at once, in its token's callback) or rejected.
/// </summary>
internal sealed class CapacityWaiter : TaskCompletionSource
{
    public CapacityWaiter(TrackedTask task)
        : base(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        Tracked = task;
    }

    public TrackedTask Tracked { get; }

    /// <summary>Set under the tracker's lock once the waiter is admitted, cancelled or rejected (it is then unlinked).</summary>
    public bool Done { get; set; }

    public CancellationTokenRegistration Registration { get; set; }

    /// <summary>The waiter list's links (under the tracker's lock).</summary>
    public CapacityWaiter? Previous { get; set; }

    /// <summary>The waiter list's links (under the tracker's lock).</summary>
    public CapacityWaiter? Next { get; set; }
}
