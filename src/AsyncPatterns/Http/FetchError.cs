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

    /// <summary>A readable description of the failure, naming the URI.</summary>
    public string Message { get; }

    /// <summary>
    /// The exception behind the failure (<see cref="HttpRequestException"/>, <see cref="System.Text.Json.JsonException"/>,
    /// <see cref="TimeoutException"/>...), or <see langword="null"/> for <see cref="FetchErrorKind.HttpStatus"/>,
    /// <see cref="FetchErrorKind.TooLarge"/> and <see cref="FetchErrorKind.RateLimited"/>.
    /// </summary>
    public Exception? Exception { get; }

    /// <inheritdoc />
    public override string ToString() => Kind + ": " + Message;
}
