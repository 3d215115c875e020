namespace AsyncPatterns.Samples.Showcase;

/// <summary>Counts the HTTP requests that really leave the process (after the rate limiter let them through).</summary>
internal sealed class CountingHandler(JobStats stats) : DelegatingHandler(new SocketsHttpHandler())
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        stats.RequestSent();
        return base.SendAsync(request, cancellationToken);
    }
}
