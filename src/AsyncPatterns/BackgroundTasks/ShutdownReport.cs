namespace AsyncPatterns.BackgroundTasks;

/// <summary>
/// What became of the work a <see cref="BackgroundTaskTracker"/> held when <see cref="BackgroundTaskTracker.ShutdownAsync"/>
/// began: every task that was running or queued at that moment is counted exactly once, in one of the four outcomes.
/// </summary>
public sealed class ShutdownReport
{
    internal ShutdownReport(int completed, IReadOnlyList<BackgroundTaskFault> faulted, int cancelled, IReadOnlyList<string> abandoned, TimeSpan elapsed)
    {
        Completed = completed;
        Faulted = faulted;
        Cancelled = cancelled;
        Abandoned = abandoned;
        Elapsed = elapsed;
    }

    /// <summary>Gets how many tasks ran to completion within the grace period.</summary>
    public int Completed { get; }

    /// <summary>Gets the tasks that ended with an exception within the grace period, with their exceptions (each was also logged).</summary>
    public IReadOnlyList<BackgroundTaskFault> Faulted { get; }

    /// <summary>
    /// Gets how many tasks ended with an <see cref="OperationCanceledException"/> after the shutdown cancelled their token
    /// within the grace period, plus the queued tasks that never started.
    /// </summary>
    public int Cancelled { get; }

    /// <summary>
    /// Gets the names of the tasks still running when the grace period ended. The tracker stops waiting for them; if one
    /// faults later, the fault is still logged.
    /// </summary>
    public IReadOnlyList<string> Abandoned { get; }

    /// <summary>Gets how long the shutdown waited, measured on the tracker's <see cref="TimeProvider"/>.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>Gets a value indicating whether nothing faulted and nothing was abandoned.</summary>
    public bool IsClean => Faulted.Count == 0 && Abandoned.Count == 0;

    /// <inheritdoc />
    public override string ToString() =>
        $"{Completed} completed, {Faulted.Count} faulted, {Cancelled} cancelled, {Abandoned.Count} abandoned" +
        (Abandoned.Count == 0 ? string.Empty : $" ({string.Join(", ", Abandoned)})");
}
