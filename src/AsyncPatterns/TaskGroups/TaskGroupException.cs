namespace AsyncPatterns.TaskGroups;

/// <summary>
/// Every real fault of a <see cref="TaskGroup"/>'s children and body, in the order they happened.
/// <see cref="Exception.InnerException"/> is the first fault; cancellations the group caused are never included.
/// </summary>
public sealed class TaskGroupException : AggregateException
{
    /// <summary>Initializes a new instance of the <see cref="TaskGroupException"/> class.</summary>
    public TaskGroupException()
        : base("One or more children of the task group faulted.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="TaskGroupException"/> class with a message.</summary>
    /// <param name="message">The message that describes the error.</param>
    public TaskGroupException(string? message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="TaskGroupException"/> class with a message and one fault.</summary>
    /// <param name="message">The message that describes the error.</param>
    /// <param name="innerException">The fault.</param>
    public TaskGroupException(string? message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="TaskGroupException"/> class with a message and the faults in order.</summary>
    /// <param name="message">The message that describes the error.</param>
    /// <param name="innerExceptions">The faults, first one first.</param>
    public TaskGroupException(string? message, IEnumerable<Exception> innerExceptions)
        : base(message, innerExceptions)
    {
    }
}
