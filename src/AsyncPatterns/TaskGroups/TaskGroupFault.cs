namespace AsyncPatterns.TaskGroups;

/// <summary>A fault of a child or of the body of a <see cref="TaskGroup"/>, as passed to <see cref="TaskGroupOptions.OnChildFaulted"/>
/// and listed in <see cref="TaskGroupException.Faults"/>.</summary>
public sealed class TaskGroupFault
{
    internal TaskGroupFault(Exception exception, string? childName, string? groupName)
    {
        Exception = exception;
        ChildName = childName;
        GroupName = groupName;
    }

    /// <summary>The exception the child or the body ended with.</summary>
    public Exception Exception { get; }

    /// <summary>The name given to <see cref="TaskGroup.Run(Func{CancellationToken, Task}, string?)"/>, or <see langword="null"/>; the body's faults carry <c>"(body)"</c>.</summary>
    public string? ChildName { get; }

    /// <summary>The group's <see cref="TaskGroupOptions.Name"/>, or <see langword="null"/>.</summary>
    public string? GroupName { get; }
}
