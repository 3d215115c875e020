namespace AsyncPatterns.Timeouts;

/// <summary>
/// Thrown by <see cref="OperationTimeout"/> when the timeout it enforced fired before the operation completed and the
/// caller's own token was not cancelled. Derives from <see cref="TimeoutException"/>, so existing
/// <c>catch (TimeoutException)</c> blocks keep working.
/// </summary>
public class OperationTimeoutException : TimeoutException
{
    /// <summary>Initializes a new instance of the <see cref="OperationTimeoutException"/> class.</summary>
    public OperationTimeoutException()
        : base("The operation timed out.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="OperationTimeoutException"/> class with a message.</summary>
    /// <param name="message">The message that describes the error.</param>
    public OperationTimeoutException(string? message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="OperationTimeoutException"/> class with a message and the exception that caused it.</summary>
    /// <param name="message">The message that describes the error.</param>
    /// <param name="innerException">The exception that caused this one, or <see langword="null"/>.</param>
    public OperationTimeoutException(string? message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>
    /// Initializes a new instance of the <see cref="OperationTimeoutException"/> class for an operation that did not
    /// complete within <paramref name="timeout"/>.
    /// </summary>
    /// <param name="timeout">The timeout that was enforced.</param>
    /// <param name="elapsed">The time that passed, on the timeout's <see cref="TimeProvider"/>, until the operation gave up or was abandoned.</param>
    /// <param name="innerException">The exception the operation ended with (usually its <see cref="OperationCanceledException"/>), or <see langword="null"/>.</param>
    public OperationTimeoutException(TimeSpan timeout, TimeSpan elapsed, Exception? innerException = null)
        : base($"The operation did not complete within its timeout of {timeout} (elapsed: {elapsed}).", innerException)
    {
        Timeout = timeout;
        Elapsed = elapsed;
    }

    /// <summary>Gets the timeout that was enforced.</summary>
    /// <value><see cref="TimeSpan.Zero"/> when the exception was not created with a timeout.</value>
    public TimeSpan Timeout { get; }

    /// <summary>Gets the time that passed, on the timeout's <see cref="TimeProvider"/>, from the start of the operation until it was given up.</summary>
    /// <value><see cref="TimeSpan.Zero"/> when the exception was not created with a timeout.</value>
    public TimeSpan Elapsed { get; }
}
