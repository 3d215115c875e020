using AsyncPatterns.Internal;

namespace AsyncPatterns.BackgroundTasks.Internal;

/// <summary>The rules of <see cref="BackgroundTaskTrackerOptions"/>, checked by the tracker's constructor and at host start.</summary>
internal sealed class BackgroundTaskTrackerOptionsValidator : OptionsValidator<BackgroundTaskTrackerOptions>
{
    public static readonly BackgroundTaskTrackerOptionsValidator Instance = new();

    public override string TypeName => nameof(BackgroundTaskTrackerOptions);

    public override void Collect(BackgroundTaskTrackerOptions options, string path, List<string> failures)
    {
        Require(options.MaxInFlight >= 1, failures, path, nameof(BackgroundTaskTrackerOptions.MaxInFlight), "at least 1", options.MaxInFlight);
        Require(options.MaxQueued >= 0, failures, path, nameof(BackgroundTaskTrackerOptions.MaxQueued), "zero or more", options.MaxQueued);
        var grace = options.DefaultGrace;
        Require(grace == Timeout.InfiniteTimeSpan || (grace >= TimeSpan.Zero && grace <= TimerLimits.MaxDueTime), failures, path,
            nameof(BackgroundTaskTrackerOptions.DefaultGrace), "zero or more and at most about 49.7 days (the longest timer), or Timeout.InfiniteTimeSpan", grace);
        Require(Enum.IsDefined(options.FaultBehavior), failures, path, nameof(BackgroundTaskTrackerOptions.FaultBehavior),
            $"{nameof(BackgroundTaskFaultBehavior)}.{nameof(BackgroundTaskFaultBehavior.Log)} or {nameof(BackgroundTaskFaultBehavior)}.{nameof(BackgroundTaskFaultBehavior.LogAndStopHost)}",
            options.FaultBehavior);
    }
}
