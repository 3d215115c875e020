using AsyncPatterns.Internal;
using Microsoft.Extensions.Configuration;

namespace AsyncPatterns.BackgroundTasks;

/// <summary>
/// Options of a <see cref="BackgroundTaskTracker"/>. The setters only store their value: the options are validated when
/// the tracker is created (an <see cref="ArgumentException"/> naming the <c>options</c> parameter) or, under
/// <c>AddBackgroundTaskTracker</c>, when the host starts (an <see cref="Microsoft.Extensions.Options.OptionsValidationException"/>);
/// both list every broken rule as <c>BackgroundTaskTrackerOptions.&lt;Property&gt; must be … (was …).</c>
/// </summary>
public sealed class BackgroundTaskTrackerOptions
{
    /// <summary>Gets or sets how many tasks run at once; further work waits in the queue.</summary>
    /// <value>64. At least 1.</value>
    public int MaxInFlight { get; set; } = 64;

    /// <summary>
    /// Gets or sets how many tasks may wait for a slot when <see cref="MaxInFlight"/> are running. Beyond that,
    /// <see cref="BackgroundTaskTracker.TryStart"/> returns <see langword="false"/> and
    /// <see cref="BackgroundTaskTracker.StartAsync"/> waits.
    /// </summary>
    /// <value>1024. At least 0.</value>
    public int MaxQueued { get; set; } = 1024;

    /// <summary>Gets or sets the grace period of <see cref="BackgroundTaskTracker.DisposeAsync"/>.</summary>
    /// <value>30 seconds, the default of <c>HostOptions.ShutdownTimeout</c>. Zero or more and at most the longest due time
    /// a timer holds (about 49.7 days), or <see cref="Timeout.InfiniteTimeSpan"/>.</value>
    public TimeSpan DefaultGrace { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets what happens when a task faults.</summary>
    /// <value><see cref="BackgroundTaskFaultBehavior.Log"/>. Must be a defined <see cref="BackgroundTaskFaultBehavior"/>.</value>
    public BackgroundTaskFaultBehavior FaultBehavior { get; set; } = BackgroundTaskFaultBehavior.Log;

    /// <summary>Sets the options bound from <paramref name="configuration"/> (the keys of the configuration overload of <c>AddBackgroundTaskTracker</c>).</summary>
    internal void Bind(IConfiguration configuration)
    {
        ConfigurationReader.Int32(configuration, nameof(MaxInFlight), v => MaxInFlight = v);
        ConfigurationReader.Int32(configuration, nameof(MaxQueued), v => MaxQueued = v);
        ConfigurationReader.TimeSpan(configuration, nameof(DefaultGrace), v => DefaultGrace = v);
        ConfigurationReader.Enum<BackgroundTaskFaultBehavior>(configuration, nameof(FaultBehavior), v => FaultBehavior = v);
    }
}
