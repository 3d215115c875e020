namespace AsyncPatterns.Internal;

/// <summary>Limits of the timers behind <see cref="TimeProvider.CreateTimer"/>.</summary>
internal static class TimerLimits
{
    /// <summary>The longest due time <see cref="ITimer.Change"/> accepts: <c>uint.MaxValue - 1</c> milliseconds, about 49.7 days.</summary>
    public static readonly TimeSpan MaxDueTime = TimeSpan.FromMilliseconds(uint.MaxValue - 1);
}
