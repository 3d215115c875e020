namespace AsyncPatterns.TaskGroups.Internal;

/// <summary>The result type of children that return a plain <see cref="Task"/>.</summary>
internal readonly struct VoidResult
{
}
