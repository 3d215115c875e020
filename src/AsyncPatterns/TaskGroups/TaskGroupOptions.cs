namespace AsyncPatterns.TaskGroups;

/// <summary>
/// Options of a <see cref="TaskGroup"/>. The setters only store their value: the options are validated when a group is
/// created from them, which throws an <see cref="ArgumentException"/> naming the <c>options</c> parameter and listing
/// every broken rule as <c>TaskGroupOptions.&lt;Property&gt; must be … (was …).</c>
/// </summary>
public sealed class TaskGroupOptions
{
    /// <summary>How many children may run at once; children started beyond it wait in a queue and start in order.
    /// The body does not count.</summary>
    /// <value>Default <see langword="null"/>: no limit. Must be positive when set.</value>
    public int? MaxConcurrency { get; set; }

    /// <summary>How the group reacts to a fault.</summary>
    /// <value>Default <see cref="TaskGroupMode.FailFast"/>. Must be a defined <see cref="TaskGroupMode"/>.</value>
    public TaskGroupMode Mode { get; set; } = TaskGroupMode.FailFast;

    /// <summary>How long the group may run, measured on <see cref="TimeProvider"/> from its creation. When it elapses
    /// the group cancels its children and, unless a child faulted, throws <see cref="TimeoutException"/>.</summary>
    /// <value>Default <see langword="null"/>: no timeout. Must be positive when set; <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> means none.
    /// Any length is supported: beyond the longest due time a timer holds (about 49.7 days) the timer is re-armed for what remains.</value>
    public TimeSpan? Timeout { get; set; }

    /// <summary>The clock <see cref="Timeout"/> is measured on.</summary>
    /// <value>Default <see cref="System.TimeProvider.System"/>. Must not be <see langword="null"/>.</value>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

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
