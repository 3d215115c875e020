using AsyncPatterns.Internal;
using Microsoft.Extensions.Configuration;

namespace AsyncPatterns.BackgroundTasks;

/// <summary>Options of a <see cref="BackgroundTaskTracker"/>. Every setter validates its value at once.</summary>
public sealed class BackgroundTaskTrackerOptions
{
    private int _maxInFlight = 64;
    private int _maxQueued = 1024;
    private TimeSpan _defaultGrace = TimeSpan.FromSeconds(30);
    private BackgroundTaskFaultBehavior _faultBehavior = BackgroundTaskFaultBehavior.Log;

    /// <summary>Gets or sets how many tasks run at once; further work waits in the queue.</summary>
    /// <value>64. At least 1.</value>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int MaxInFlight
    {
        get => _maxInFlight;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1, nameof(MaxInFlight));
            _maxInFlight = value;
        }
    }

    /// <summary>
    /// Gets or sets how many tasks may wait for a slot when <see cref="MaxInFlight"/> are running. Beyond that,
    /// <see cref="BackgroundTaskTracker.TryStart"/> returns <see langword="false"/> and
    /// <see cref="BackgroundTaskTracker.StartAsync"/> waits.
    /// </summary>
    /// <value>1024. At least 0.</value>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int MaxQueued
    {
        get => _maxQueued;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(MaxQueued));
            _maxQueued = value;
        }
    }

    /// <summary>Gets or sets the grace period of <see cref="BackgroundTaskTracker.DisposeAsync"/>.</summary>
    /// <value>30 seconds, the default of <c>HostOptions.ShutdownTimeout</c>. Zero or more, or <see cref="Timeout.InfiniteTimeSpan"/>.</value>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative (other than <see cref="Timeout.InfiniteTimeSpan"/>) or too large for a timer.</exception>
    public TimeSpan DefaultGrace
    {
        get => _defaultGrace;
        set
        {
            BackgroundTaskTracker.ValidateGrace(value, nameof(DefaultGrace));
            _defaultGrace = value;
        }
    }

    /// <summary>Gets or sets what happens when a task faults.</summary>
    /// <value><see cref="BackgroundTaskFaultBehavior.Log"/>.</value>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined <see cref="BackgroundTaskFaultBehavior"/>.</exception>
    public BackgroundTaskFaultBehavior FaultBehavior
    {
        get => _faultBehavior;
        set
        {
            if (!Enum.IsDefined(value))
            {
                throw new ArgumentOutOfRangeException(nameof(FaultBehavior), value, "Not a defined BackgroundTaskFaultBehavior.");
            }

            _faultBehavior = value;
        }
    }

    /// <summary>Sets the options bound from <paramref name="configuration"/> (the keys of the configuration overload of <c>AddBackgroundTaskTracker</c>).</summary>
    internal void Bind(IConfiguration configuration)
    {
        ConfigurationReader.Int32(configuration, nameof(MaxInFlight), v => MaxInFlight = v);
        ConfigurationReader.Int32(configuration, nameof(MaxQueued), v => MaxQueued = v);
        ConfigurationReader.TimeSpan(configuration, nameof(DefaultGrace), v => DefaultGrace = v);
        ConfigurationReader.Enum<BackgroundTaskFaultBehavior>(configuration, nameof(FaultBehavior), v => FaultBehavior = v);
    }
}
