using System.Threading.RateLimiting;
using AsyncPatterns.Internal;
using AsyncPatterns.Retries;
using Microsoft.Extensions.Configuration;

namespace AsyncPatterns.Http;

/// <summary>
/// Options of the per-attempt pipeline that
/// <see cref="AttemptPipelineHttpClientBuilderExtensions.AddAttemptPipeline(Microsoft.Extensions.DependencyInjection.IHttpClientBuilder, Action{AttemptPipelineOptions})"/>
/// adds to an <see cref="HttpClient"/>: retry outermost, then a rate-limiter permit, then an attempt timeout, so every
/// attempt takes a new permit and gets a new timeout.
/// </summary>
/// <remarks>
/// Under dependency injection the options are named after the client and validated when the host starts; every value
/// this page calls invalid fails there, naming the client.
/// </remarks>
public sealed class AttemptPipelineOptions
{
    /// <summary>Gets or sets the retry rules (those of <see cref="HttpRetry.CreatePipeline"/>), or <see langword="null"/> for a single attempt.</summary>
    /// <value>
    /// The default is a new <see cref="RetryOptions"/> with its defaults (3 retries, exponential backoff from 1 second
    /// with jitter, <c>Retry-After</c> honoured). Its values must be valid (<see cref="RetryOptions.Validate"/>).
    /// </value>
    public RetryOptions? Retry { get; set; } = new();

    /// <summary>
    /// Gets or sets a rate limiter every attempt takes one permit from, held until the response's body has been read or
    /// the response disposed (as <see cref="RateLimiting.RateLimitingHandler"/> does); the caller owns it.
    /// </summary>
    /// <value>The default is <see langword="null"/>: no limiter, unless <see cref="RateLimiterName"/> is set. Set one or the other, not both.</value>
    public RateLimiter? RateLimiter { get; set; }

    /// <summary>
    /// Gets or sets the key of a <see cref="System.Threading.RateLimiting.RateLimiter"/> registered in the container (for example by
    /// <see cref="RequestRateLimiterServiceCollectionExtensions.AddRequestRateLimiter(Microsoft.Extensions.DependencyInjection.IServiceCollection, string, System.Action{AsyncPatterns.RateLimiting.RequestRateLimiterOptions})"/>) that every attempt takes one permit from.
    /// </summary>
    /// <value>
    /// The default is <see langword="null"/>: no limiter, unless <see cref="RateLimiter"/> is set. When set, a keyed
    /// <see cref="System.Threading.RateLimiting.RateLimiter"/> must be registered under it: a missing one fails when the host starts.
    /// </value>
    public string? RateLimiterName { get; set; }

    /// <summary>
    /// Gets or sets the longest one attempt may wait for its response headers, counted from when it got its permit;
    /// <see cref="Timeout.InfiniteTimeSpan"/> for none. Retry delays and the wait for a permit are not counted.
    /// </summary>
    /// <value>
    /// The default is 30 seconds. Must be positive and at most about 49.7 days (the longest due time a timer can hold),
    /// or <see cref="Timeout.InfiniteTimeSpan"/>.
    /// </value>
    /// <remarks>
    /// A timed-out attempt throws <see cref="TimeoutException"/> naming the request, which <see cref="HttpRetry"/>
    /// retries. The body is read after the pipeline returns, so it is bounded by <see cref="HttpClient.Timeout"/> (the
    /// whole call, all attempts and delays included) or the caller's token, not by this timeout.
    /// </remarks>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the clock of <see cref="AttemptTimeout"/>.</summary>
    /// <value>
    /// The default is <see langword="null"/>: the <see cref="System.TimeProvider"/> registered in the container, or
    /// <see cref="TimeProvider.System"/> when there is none. Retry delays run on <see cref="RetryOptions.TimeProvider"/>:
    /// give both the same clock in tests.
    /// </value>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>Sets the options bound from <paramref name="configuration"/> (the keys of the configuration overload of <c>AddAttemptPipeline</c>).</summary>
    internal void Bind(IConfiguration configuration)
    {
        ConfigurationReader.TimeSpan(configuration, nameof(AttemptTimeout), v => AttemptTimeout = v);
        if (configuration[nameof(RateLimiterName)] is { } limiterName)
        {
            RateLimiterName = limiterName.Length == 0 ? null : limiterName;
        }

        var retry = configuration.GetSection(nameof(Retry));
        if (retry.Exists())
        {
            Retry ??= new RetryOptions();
            Retry.Bind(retry);
        }
    }
}
