namespace AsyncPatterns.Retries;

/// <summary>
/// Describes a failed attempt that is about to be retried; passed to <see cref="RetryOptions.OnRetry"/>.
/// </summary>
public sealed class RetryAttempt
{
    internal RetryAttempt(int attemptNumber, TimeSpan delay, Exception? exception, object? result)
    {
        AttemptNumber = attemptNumber;
        Delay = delay;
        Exception = exception;
        Result = result;
    }

    /// <summary>Gets the one-based number of the attempt that failed: 1 for the original call, 2 for the first retry, and so on.</summary>
    public int AttemptNumber { get; }

    /// <summary>Gets the delay that will be awaited before the next attempt (the computed backoff, or the server's <c>Retry-After</c>).</summary>
    public TimeSpan Delay { get; }

    /// <summary>Gets the exception the attempt failed with, or <see langword="null"/> when it failed with a result.</summary>
    public Exception? Exception { get; }

    /// <summary>Gets the result the attempt was judged a failure for (for example an <see cref="HttpResponseMessage"/> with status 503), or <see langword="null"/>.</summary>
    /// <remarks>An <see cref="HttpResponseMessage"/> is disposed right after the callback returns; do not keep it.</remarks>
    public object? Result { get; }
}
