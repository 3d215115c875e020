namespace AsyncPatterns.RateLimiting;

/// <summary>
/// Thrown by <see cref="RateLimitingHandler"/> when the limiter rejects a request (its queue is full), so the request
/// is never sent. <see cref="RetryAfter"/> says when the limiter expects to have room, when it knows.
/// </summary>
public sealed class RateLimitRejectedException : AsyncPatternsException
{
    /// <summary>Initializes a new instance of the <see cref="RateLimitRejectedException"/> class.</summary>
    public RateLimitRejectedException()
        : base("The rate limiter rejected the request: its queue is full.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="RateLimitRejectedException"/> class with a message.</summary>
    /// <param name="message">The message that describes the rejection.</param>
    public RateLimitRejectedException(string? message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="RateLimitRejectedException"/> class with a message and the exception that caused it.</summary>
    /// <param name="message">The message that describes the rejection.</param>
    /// <param name="innerException">The exception that caused this one, or <see langword="null"/>.</param>
    public RateLimitRejectedException(string? message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="RateLimitRejectedException"/> class with a message and the limiter's retry hint.</summary>
    /// <param name="message">The message that describes the rejection.</param>
    /// <param name="retryAfter">When the limiter expects to have room, or <see langword="null"/> if it does not know.</param>
    public RateLimitRejectedException(string? message, TimeSpan? retryAfter)
        : base(message)
    {
        RetryAfter = retryAfter;
    }

    /// <summary>Gets when the limiter expects to have room (the lease's <c>MetadataName.RetryAfter</c>), or <see langword="null"/> if it did not say.</summary>
    public TimeSpan? RetryAfter { get; }
}
