namespace AsyncPatterns.TaskGroups;

/// <summary>How a <see cref="TaskGroup"/> reacts when a child (or the body) faults.</summary>
public enum TaskGroupMode
{
    /// <summary>
    /// The first real fault cancels <see cref="TaskGroup.Token"/>, so every sibling sees cancellation; the group then
    /// throws a <see cref="TaskGroupException"/> with every fault, like Python's <c>asyncio.TaskGroup</c> or Go's <c>errgroup</c>.
    /// </summary>
    FailFast = 0,

    /// <summary>
    /// A fault cancels nothing: siblings keep running. <see cref="TaskGroupOptions.OnChildFaulted"/> sees each fault
    /// once and may handle it; faults it does not handle are thrown in a <see cref="TaskGroupException"/> at the end.
    /// </summary>
    Supervisor = 1,
}
