using System.Threading.RateLimiting;

namespace AsyncPatterns.RateLimiting;

/// <summary>
/// A <see cref="DelegatingHandler"/> that takes one permit of a <see cref="RateLimiter"/> (for example a
/// <see cref="RequestRateLimiter"/>) for every request, and holds it until the inner handler has returned the response.
/// </summary>
/// <remarks>
/// <para>
/// With <see cref="HttpCompletionOption.ResponseContentRead"/> (the default of <see cref="HttpClient"/>) the permit is
/// held while the content is buffered; with <see cref="HttpCompletionOption.ResponseHeadersRead"/> it is given back once
/// the headers have arrived.
/// </para>
/// <para>
/// When the limiter rejects the request (its queue is full) the request is not sent and
/// <see cref="RateLimitRejectedException"/> is thrown, carrying the lease's <see cref="MetadataName.RetryAfter"/> if it
/// had one. Cancellation while waiting surfaces as <see cref="OperationCanceledException"/> with the caller's token.
/// The synchronous <see cref="HttpClient.Send(HttpRequestMessage)"/> path cannot wait: it takes a permit only if one is
/// free at once (<see cref="RateLimiter.AttemptAcquire"/>) and throws <see cref="RateLimitRejectedException"/> otherwise.
/// </para>
/// <para>The handler does not own the limiter and never disposes it; one limiter may serve many handlers and clients.</para>
/// </remarks>
public sealed class RateLimitingHandler : DelegatingHandler
{
    private readonly RateLimiter _limiter;

    /// <summary>Initializes a new instance of the <see cref="RateLimitingHandler"/> class.</summary>
    /// <param name="limiter">The limiter every request takes a permit from.</param>
    /// <exception cref="ArgumentNullException"><paramref name="limiter"/> is <see langword="null"/>.</exception>
    public RateLimitingHandler(RateLimiter limiter)
    {
        ArgumentNullException.ThrowIfNull(limiter);
        _limiter = limiter;
    }

    /// <summary>Initializes a new instance of the <see cref="RateLimitingHandler"/> class with an inner handler.</summary>
    /// <param name="limiter">The limiter every request takes a permit from.</param>
    /// <param name="innerHandler">The handler that sends the requests.</param>
    /// <exception cref="ArgumentNullException"><paramref name="limiter"/> or <paramref name="innerHandler"/> is <see langword="null"/>.</exception>
    public RateLimitingHandler(RateLimiter limiter, HttpMessageHandler innerHandler)
        : base(innerHandler)
    {
        ArgumentNullException.ThrowIfNull(limiter);
        _limiter = limiter;
    }

    /// <inheritdoc />
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return SendCoreAsync(request, cancellationToken);
    }

    /// <inheritdoc />
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        cancellationToken.ThrowIfCancellationRequested();
        using var lease = _limiter.AttemptAcquire(1);
        ThrowIfRejected(lease, request);
        return base.Send(request, cancellationToken);
    }

    private async Task<HttpResponseMessage> SendCoreAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var lease = await _limiter.AcquireAsync(1, cancellationToken).ConfigureAwait(false);
        ThrowIfRejected(lease, request);
        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    private static void ThrowIfRejected(RateLimitLease lease, HttpRequestMessage request)
    {
        if (lease.IsAcquired)
        {
            return;
        }

        TimeSpan? retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : null;
        var message = retryAfter is { } after
            ? $"The rate limiter rejected {request.Method} {request.RequestUri}: its queue is full; retry after {after}."
            : $"The rate limiter rejected {request.Method} {request.RequestUri}: its queue is full.";
        throw new RateLimitRejectedException(message, retryAfter);
    }
}
