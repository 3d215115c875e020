using System.Net;
using Polly;
using Polly.Timeout;

namespace AsyncPatterns.Retries;

/// <summary>
/// HTTP-aware retrying: which responses and exceptions are transient, the server's <c>Retry-After</c>, and a
/// preset pipeline for <see cref="HttpResponseMessage"/> results.
/// </summary>
/// <remarks>
/// Transient: status 408 (Request Timeout), 429 (Too Many Requests) and every 5xx; an <see cref="HttpRequestException"/>;
/// a timeout (<see cref="TimeoutException"/>, Polly's <see cref="TimeoutRejectedException"/>, or the
/// <see cref="TaskCanceledException"/> that <see cref="HttpClient.Timeout"/> raises). Never another 4xx, and never the
/// caller's own cancellation. All members are thread-safe.
/// </remarks>
public static class HttpRetry
{
    private static readonly RetryOptions s_defaultOptions = new();

    /// <summary>
    /// Builds a <see cref="ResiliencePipeline{T}"/> for <see cref="HttpResponseMessage"/> results that retries transient
    /// outcomes with the backoff of <paramref name="options"/> and honours <c>Retry-After</c>.
    /// </summary>
    /// <remarks>
    /// <para>
    /// A retried response with <c>Retry-After</c> (delta-seconds, or an HTTP-date compared with
    /// <see cref="RetryOptions.TimeProvider"/>, not the machine clock) waits exactly that long instead of the computed
    /// backoff; the server's value is never shortened. When it is longer than <see cref="RetryOptions.MaxDelay"/> (or,
    /// without one, <see cref="RetryOptions.MaxAllowedDelay"/>), or than what remains of
    /// <see cref="RetryOptions.MaxTotalDelay"/>, retrying stops and that response is returned: a huge
    /// <c>Retry-After</c> never throws. Every failed response that is retried is disposed, and so is a response a
    /// throwing <see cref="RetryOptions.ShouldRetry"/>, <see cref="RetryOptions.OnRetry"/> or <see cref="RetryOptions.Randomizer"/> was handling; the last
    /// response is returned to the caller, who owns it.
    /// </para>
    /// <para>
    /// The number of attempts that started is recorded in the execution's <see cref="ResilienceContext"/>: read it with
    /// <see cref="Retry.GetAttemptCount"/>. The pipeline is cached per unchanged options and is safe to use concurrently.
    /// </para>
    /// </remarks>
    /// <param name="options">The retry options; <see langword="null"/> means the defaults of <see cref="RetryOptions"/>.</param>
    /// <returns>The pipeline.</returns>
    /// <exception cref="ArgumentException">A value of <paramref name="options"/> is out of range; the message names each property
    /// (<c>RetryOptions.MaxRetries must be zero or more (was -1).</c>).</exception>
    public static ResiliencePipeline<HttpResponseMessage> CreatePipeline(RetryOptions? options = null) =>
        (options ?? s_defaultOptions).GetBuilt(nameof(options)).Http;

    /// <summary>Gets a value indicating whether <paramref name="statusCode"/> is worth retrying: 408, 429 or 5xx.</summary>
    /// <param name="statusCode">The status code.</param>
    /// <returns><see langword="true"/> for 408, 429 and 500 to 599.</returns>
    public static bool IsTransient(HttpStatusCode statusCode) =>
        statusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || ((int)statusCode >= 500 && (int)statusCode <= 599);

    /// <summary>Gets a value indicating whether <paramref name="response"/> is worth retrying: status 408, 429 or 5xx.</summary>
    /// <param name="response">The response.</param>
    /// <returns><see langword="true"/> when the status is transient.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="response"/> is <see langword="null"/>.</exception>
    public static bool IsTransient(HttpResponseMessage response)
    {
        ArgumentNullException.ThrowIfNull(response);
        return IsTransient(response.StatusCode);
    }

    /// <summary>
    /// Gets a value indicating whether <paramref name="exception"/> is a transient HTTP failure: an
    /// <see cref="HttpRequestException"/> or a timeout. Other cancellations are not transient.
    /// </summary>
    /// <param name="exception">The exception.</param>
    /// <returns><see langword="true"/> when retrying may help.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="exception"/> is <see langword="null"/>.</exception>
    public static bool IsTransient(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception switch
        {
            HttpRequestException => true,
            TimeoutException => true,
            TimeoutRejectedException => true,
            TaskCanceledException { InnerException: TimeoutException } => true,
            _ => false,
        };
    }

    /// <summary>Gets a value indicating whether an outcome of an HTTP call is worth retrying (see <see cref="HttpRetry"/>).</summary>
    /// <param name="outcome">The outcome: a response or an exception.</param>
    /// <returns><see langword="true"/> when retrying may help.</returns>
    public static bool IsTransient(Outcome<HttpResponseMessage> outcome) =>
        outcome.Exception is { } exception
            ? IsTransient(exception)
            : outcome.Result is { } response && IsTransient(response.StatusCode);

    /// <summary>
    /// Reads the <c>Retry-After</c> header of <paramref name="response"/> as a delay: delta-seconds as they are, an
    /// HTTP-date as the time from <paramref name="timeProvider"/>'s now until that date (zero when it is past).
    /// </summary>
    /// <param name="response">The response.</param>
    /// <param name="timeProvider">The clock an HTTP-date is compared with; <see langword="null"/> means <see cref="TimeProvider.System"/>.</param>
    /// <returns>The delay the server asked for, or <see langword="null"/> when there is no valid <c>Retry-After</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="response"/> is <see langword="null"/>.</exception>
    public static TimeSpan? GetRetryAfter(HttpResponseMessage response, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(response);
        var header = response.Headers.RetryAfter;
        if (header is null)
        {
            return null;
        }

        if (header.Delta is { } delta)
        {
            return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        }

        if (header.Date is { } date)
        {
            var wait = date - (timeProvider ?? TimeProvider.System).GetUtcNow();
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }

        return null;
    }
}
