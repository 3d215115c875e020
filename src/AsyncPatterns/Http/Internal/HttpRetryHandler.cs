using Polly;

namespace AsyncPatterns.Http.Internal;

/// <summary>
/// Runs every request through an <see cref="HttpResponseMessage"/> pipeline (the library's HTTP retry): each execution
/// of the callback sends the same request message down the rest of the chain, so the handlers after this one (the
/// limiter, the attempt timeout) run once per attempt.
/// </summary>
internal sealed class HttpRetryHandler(ResiliencePipeline<HttpResponseMessage> pipeline) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        try
        {
            return await pipeline.ExecuteAsync(
                static (context, state) => new ValueTask<HttpResponseMessage>(state.Handler.SendAttemptAsync(state.Request, context.CancellationToken)),
                context,
                (Handler: this, Request: request)).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        try
        {
            return pipeline.Execute(
                static (context, state) => state.Handler.SendAttempt(state.Request, context.CancellationToken),
                context,
                (Handler: this, Request: request));
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private Task<HttpResponseMessage> SendAttemptAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        base.SendAsync(request, cancellationToken);

    private HttpResponseMessage SendAttempt(HttpRequestMessage request, CancellationToken cancellationToken) =>
        base.Send(request, cancellationToken);
}
