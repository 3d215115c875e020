namespace AsyncPatterns.Http;

/// <summary>Why the fetch of one request failed: a kind, a message and, where there was one, the exception.</summary>
public sealed class FetchError
{
    internal FetchError(FetchErrorKind kind, string message, Exception? exception)
    {
        Kind = kind;
        Message = message;
        Exception = exception;
    }

    /// <summary>The kind of failure.</summary>
    public FetchErrorKind Kind { get; }

    /// <summary>A readable description of the failure, naming the URI (its user info masked as <c>***</c>).</summary>
    public string Message { get; }

    /// <summary>
    /// The exception behind the failure (<see cref="HttpRequestException"/>, <see cref="System.Text.Json.JsonException"/>,
    /// <see cref="TimeoutException"/>, <see cref="RateLimiting.RateLimitRejectedException"/> with the limiter's
    /// suggested <c>RetryAfter</c>, Polly's <c>BrokenCircuitException</c>, whatever an <see cref="FetchErrorKind.Unexpected"/>
    /// failure threw...), or <see langword="null"/> for <see cref="FetchErrorKind.HttpStatus"/> and
    /// <see cref="FetchErrorKind.TooLarge"/>.
    /// </summary>
    public Exception? Exception { get; }

    /// <inheritdoc />
    public override string ToString() => Kind + ": " + Message;
}
