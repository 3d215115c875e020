namespace AsyncPatterns.Http;

/// <summary>Why the fetch of one request failed.</summary>
public enum FetchErrorKind
{
    /// <summary>An attempt took longer than <see cref="FetchOptions.PerRequestTimeout"/> (or the <see cref="HttpClient.Timeout"/>).</summary>
    Timeout,

    /// <summary>The server answered with a status code outside 200-299; <see cref="FetchResult{T}.StatusCode"/> holds it.</summary>
    HttpStatus,

    /// <summary>The connection failed: refused, reset, closed early, a DNS or TLS failure.</summary>
    Network,

    /// <summary>The body could not be read as the expected content (invalid or mistyped JSON).</summary>
    InvalidContent,

    /// <summary>The body was longer than <see cref="FetchOptions.MaxResponseBytes"/>.</summary>
    TooLarge,

    /// <summary>The <see cref="FetchOptions.RateLimiter"/> rejected the attempt's permit (its queue was full); no request was sent.</summary>
    RateLimited,
}
