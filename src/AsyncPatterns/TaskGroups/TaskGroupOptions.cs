namespace AsyncPatterns.TaskGroups;

/// <summary>Options of a <see cref="TaskGroup"/>. Every value is checked when it is set.</summary>
public sealed class TaskGroupOptions
{
    private int? _maxConcurrency;
    private TaskGroupMode _mode = TaskGroupMode.FailFast;
    private TimeSpan? _timeout;
    private TimeProvider _timeProvider = TimeProvider.System;

    /// <summary>How many children may run at once; children started beyond it wait in a queue and start in order.
    /// The body does not count.</summary>
    /// <value>Default <see langword="null"/>: no limit. Must be positive when set.</value>
    public int? MaxConcurrency
    {
        get => _maxConcurrency;
        set
        {
            if (value is { } v)
            {
                ArgumentOutOfRangeException.ThrowIfNegativeOrZero(v, nameof(MaxConcurrency));
            }

            _maxConcurrency = value;
        }
    }

    /// <summary>How the group reacts to a fault.</summary>
    /// <value>Default <see cref="TaskGroupMode.FailFast"/>.</value>
    public TaskGroupMode Mode
    {
        get => _mode;
        set
        {
            if (value is not TaskGroupMode.FailFast and not TaskGroupMode.Supervisor)
            {
                throw new ArgumentOutOfRangeException(nameof(Mode), value, "Unknown task group mode.");
            }

            _mode = value;
        }
    }

    /// <summary>How long the group may run, measured on <see cref="TimeProvider"/> from its creation. When it elapses
    /// the group cancels its children and, unless a child faulted, throws <see cref="TimeoutException"/>.</summary>
    /// <value>Default <see langword="null"/>: no timeout. Must be positive when set; <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> means none.
    /// Any length is supported: beyond the longest due time a timer holds (about 49.7 days) the timer is re-armed for what remains.</value>
    public TimeSpan? Timeout
    {
        get => _timeout;
        set
        {
            if (value is { } v && v != System.Threading.Timeout.InfiniteTimeSpan)
            {
                ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(v, TimeSpan.Zero, nameof(Timeout));
            }

            _timeout = value == System.Threading.Timeout.InfiniteTimeSpan ? null : value;
        }
    }

    /// <summary>The clock <see cref="Timeout"/> is measured on.</summary>
    /// <value>Default <see cref="System.TimeProvider.System"/>. Cannot be <see langword="null"/>.</value>
    public TimeProvider TimeProvider
    {
        get => _timeProvider;
        set
        {
            ArgumentNullException.ThrowIfNull(value, nameof(TimeProvider));
            _timeProvider = value;
        }
    }

    /// <summary>A name for the group, used in exception messages and in <see cref="TaskGroupFault.GroupName"/>.</summary>
    /// <value>Default <see langword="null"/>.</value>
    public string? Name { get; set; }

    /// <summary>
    /// Only with <see cref="TaskGroupMode.Supervisor"/>: called once per fault, on the thread the fault completed on.
    /// Return <see langword="true"/> when the fault is handled (it is not thrown at the end), <see langword="false"/>
    /// to have it thrown in the group's <see cref="TaskGroupException"/>. An exception thrown by the callback is a fault too.
    /// </summary>
    /// <value>Default <see langword="null"/>: every fault is thrown at the end. Setting it with
    /// <see cref="TaskGroupMode.FailFast"/> is rejected when the group is created.</value>
    public Func<TaskGroupFault, bool>? OnChildFaulted { get; set; }
}
