namespace AsyncPatterns;

/// <summary>
/// The base type of the exceptions that AsyncPatterns defines itself. Where a standard exception type fits
/// (<see cref="ArgumentException"/>, <see cref="OperationCanceledException"/>, <see cref="TimeoutException"/>,
/// <see cref="ObjectDisposedException"/>) the library throws that type instead.
/// </summary>
public class AsyncPatternsException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="AsyncPatternsException"/> class.</summary>
    public AsyncPatternsException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="AsyncPatternsException"/> class with a message.</summary>
    /// <param name="message">The message that describes the error.</param>
    public AsyncPatternsException(string? message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="AsyncPatternsException"/> class with a message and the exception that caused it.</summary>
    /// <param name="message">The message that describes the error.</param>
    /// <param name="innerException">The exception that caused this one, or <see langword="null"/>.</param>
    public AsyncPatternsException(string? message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
