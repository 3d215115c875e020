using System.Collections.ObjectModel;
using System.Text;

namespace AsyncPatterns.TaskGroups;

/// <summary>
/// Every real fault of a <see cref="TaskGroup"/>'s children and body, in the order they happened, each with the name
/// of the child it came from (<see cref="Faults"/>). <see cref="Exception.InnerException"/> is the first fault;
/// cancellations the group caused are never included.
/// </summary>
/// <remarks>
/// The message names each of the first three faults (<c>The task group 'fan-out' failed: child 'backend-b' threw
/// IOException: connection reset</c>) and counts the rest; <see cref="Faults"/> has them all.
/// </remarks>
public sealed class TaskGroupException : AggregateException
{
    private const int FaultsInMessage = 3;
    private readonly string? _message;
    private readonly string? _subject;

    /// <summary>Initializes a new instance of the <see cref="TaskGroupException"/> class.</summary>
    public TaskGroupException()
        : this("One or more children of the task group faulted.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="TaskGroupException"/> class with a message.</summary>
    /// <param name="message">The message that describes the error.</param>
    public TaskGroupException(string? message)
        : base(message)
    {
        _message = message;
        Faults = [];
    }

    /// <summary>Initializes a new instance of the <see cref="TaskGroupException"/> class with a message and one fault.</summary>
    /// <param name="message">The message that describes the error.</param>
    /// <param name="innerException">The fault.</param>
    public TaskGroupException(string? message, Exception innerException)
        : base(message, innerException)
    {
        _message = message;
        Faults = Unnamed(InnerExceptions);
    }

    /// <summary>Initializes a new instance of the <see cref="TaskGroupException"/> class with a message and the faults in order.</summary>
    /// <param name="message">The message that describes the error.</param>
    /// <param name="innerExceptions">The faults, first one first.</param>
    public TaskGroupException(string? message, IEnumerable<Exception> innerExceptions)
        : base(message, innerExceptions)
    {
        _message = message;
        Faults = Unnamed(InnerExceptions);
    }

    private TaskGroupException(string subject, IReadOnlyList<TaskGroupFault> faults)
        : base(Describe(subject, faults), faults.Select(f => f.Exception))
    {
        _subject = subject;
        _message = Describe(subject, faults);
        Faults = new ReadOnlyCollection<TaskGroupFault>([.. faults]);
    }

    /// <summary>
    /// The faults with the names of the children they came from, in the order they happened; the same exceptions, in
    /// the same order, as <see cref="AggregateException.InnerExceptions"/>. Faults of the body carry <c>"(body)"</c>,
    /// a throwing source of <see cref="TaskGroup.ForEachAsync{TSource, TResult}(IEnumerable{TSource}, int, Func{TSource, CancellationToken, Task{TResult}}, CancellationToken)"/>
    /// <c>"(source)"</c>, a throwing callback registered on <see cref="TaskGroup.Token"/> <c>"(token callback)"</c>,
    /// a race's candidates <c>"candidate[i]"</c> (their index).
    /// An exception built with a public constructor has unnamed faults.
    /// </summary>
    public IReadOnlyList<TaskGroupFault> Faults { get; }

    /// <summary>The message given, or the one the group wrote; never followed by the inner exceptions' messages.</summary>
    public override string Message => _message ?? base.Message;

    /// <summary>The exception a group (or "The race") called <paramref name="subject"/> throws for <paramref name="faults"/>.</summary>
    internal static TaskGroupException Create(string subject, IReadOnlyList<TaskGroupFault> faults) => new(subject, faults);

    /// <summary><paramref name="existing"/>'s faults (if any) followed by <paramref name="more"/>, under the same subject.</summary>
    internal static TaskGroupException Append(TaskGroupException? existing, string subject, IEnumerable<TaskGroupFault> more) =>
        new(existing?._subject ?? subject, [.. existing?.Faults ?? [], .. more]);

    /// <summary>"The task group", "The task group 'name'", or the same for another kind.</summary>
    internal static string Subject(string kind, string? name) => name is null ? $"The {kind}" : $"The {kind} '{name}'";

    private static ReadOnlyCollection<TaskGroupFault> Unnamed(IEnumerable<Exception> exceptions) =>
        new([.. exceptions.Select(e => new TaskGroupFault(e, null, null))]);

    private static string Describe(string subject, IReadOnlyList<TaskGroupFault> faults)
    {
        var text = new StringBuilder(subject);
        text.Append(faults.Count == 1 ? " failed: " : $" failed with {faults.Count} faults: ");
        for (var i = 0; i < Math.Min(faults.Count, FaultsInMessage); i++)
        {
            if (i > 0)
            {
                text.Append("; ");
            }

            var fault = faults[i];
            text.Append(fault.ChildName switch
            {
                null => "an unnamed child",
                ['(', .. var role, ')'] => "the " + role,
                var name => $"child '{name}'",
            });
            text.Append(" threw ").Append(fault.Exception.GetType().Name).Append(": ").Append(fault.Exception.Message);
        }

        if (faults.Count > FaultsInMessage)
        {
            text.Append("; and ").Append(faults.Count - FaultsInMessage).Append(" more (see TaskGroupException.Faults)");
        }

        return text.ToString();
    }
}
