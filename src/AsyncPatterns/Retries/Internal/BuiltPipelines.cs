using Polly;

namespace AsyncPatterns.Retries.Internal;

/// <summary>The pipelines built from one version of a <see cref="RetryOptions"/>; the HTTP one is built on first use.</summary>
internal sealed class BuiltPipelines(int version, ResiliencePipeline general, RetrySettings settings)
{
    private ResiliencePipeline<HttpResponseMessage>? _http;

    public int Version { get; } = version;

    public ResiliencePipeline General { get; } = general;

    public ResiliencePipeline<HttpResponseMessage> Http =>
        Volatile.Read(ref _http) ?? Interlocked.CompareExchange(ref _http, RetryPipelineFactory.CreateHttp(settings), null) ?? _http!;
}
