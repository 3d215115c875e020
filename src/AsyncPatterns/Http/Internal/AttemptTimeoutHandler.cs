using AsyncPatterns.Internal;

namespace AsyncPatterns.Http.Internal;

/// <summary>
/// Bounds one attempt, until its response headers arrive, by <c>timeout</c> on <c>timeProvider</c>; a timed-out
/// attempt throws <see cref="TimeoutException"/> naming the request (transient for the HTTP retry). The caller's own
/// cancellation still surfaces as <see cref="OperationCanceledException"/> with the caller's token.
/// </summary>
internal sealed class AttemptTimeoutHandler(TimeSpan timeout, TimeProvider timeProvider) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var timer = new CancellationTokenSource(timeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        try
        {
            return await base.SendAsync(request, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException exception) when (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw TimedOut(request, exception);
        }
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var timer = new CancellationTokenSource(timeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        try
        {
            return base.Send(request, linked.Token);
        }
        catch (OperationCanceledException exception) when (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw TimedOut(request, exception);
        }
    }

    private TimeoutException TimedOut(HttpRequestMessage request, OperationCanceledException exception) =>
        new($"{request.Method} {UriRedaction.Redact(request.RequestUri)} did not answer within the attempt timeout of {timeout}.", exception);
}
