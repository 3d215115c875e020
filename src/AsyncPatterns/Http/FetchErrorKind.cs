namespace AsyncPatterns.Http;

/// <summary>Why the fetch of one request failed.</summary>
/// <remarks>
/// Whatever one request's attempts throw (the handler chain, redirects the client follows, the resilience pipeline, the
/// per-request timer, reading the body) becomes that request's result with one of these kinds, and every other request
/// still gets its own result. Only the caller's cancellation, <see cref="FetchOptions.FailFast"/>, invalid arguments
/// (a null, relative or non-http(s) URI) and exceptions of the caller's own source end the whole fetch.
/// </remarks>
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

    /// <summary>
    /// The <see cref="FetchOptions.ResiliencePipeline"/> rejected the request without sending it, for example an open
    /// circuit breaker (<see cref="Polly.CircuitBreaker.BrokenCircuitException"/>; any <see cref="Polly.ExecutionRejectedException"/>
    /// but a timeout, which is <see cref="Timeout"/>).
    /// </summary>
    Rejected,

    /// <summary>
    /// The request failed with an exception of no other kind: a handler or callback that threw, a redirect to a location
    /// the client cannot parse, content the <c>JsonTypeInfo</c> cannot read. <see cref="FetchError.Exception"/> holds it.
    /// </summary>
    Unexpected,
}
