using System.Threading.RateLimiting;
using AsyncPatterns.Http;
using AsyncPatterns.Http.Internal;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.Retries;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AsyncPatterns;

/// <summary>
/// Adds the library's per-attempt pipeline (retry, rate-limiter permit, attempt timeout) to a named or typed
/// <see cref="HttpClient"/>, for applications that do not use Microsoft.Extensions.Http.Resilience (with it, use
/// <see cref="HttpRetryResiliencePipelineBuilderExtensions.AddHttpRetry"/> inside <c>AddResilienceHandler</c>).
/// </summary>
public static class AttemptPipelineHttpClientBuilderExtensions
{
    /// <summary>Adds the per-attempt pipeline with the defaults of <see cref="AttemptPipelineOptions"/>: HTTP retry and a 30-second attempt timeout, no limiter.</summary>
    /// <param name="builder">The client builder.</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    public static IHttpClientBuilder AddAttemptPipeline(this IHttpClientBuilder builder) => AddAttemptPipeline(builder, static _ => { });

    /// <summary>
    /// Adds, at this point of the client's handler chain, the HTTP retry of <see cref="AttemptPipelineOptions.Retry"/>
    /// (outermost), then a permit of the limiter, then <see cref="AttemptPipelineOptions.AttemptTimeout"/>: every attempt
    /// takes a new permit (held while its body downloads) and gets a new timeout, and neither the wait for a permit nor
    /// the retry delays count against the attempt's timeout.
    /// </summary>
    /// <remarks>
    /// <para>
    /// The options are named after the client (<see cref="IHttpClientBuilder.Name"/>) and validated when the host starts,
    /// naming the client: an invalid retry value, an out-of-range timeout, both limiter forms set, or a
    /// <see cref="AttemptPipelineOptions.RateLimiterName"/> with no keyed <see cref="RateLimiter"/> registered under it.
    /// Calling it again for the same client adds configuration to the same options and another pipeline to the chain; call it once.
    /// </para>
    /// <para>
    /// A retried attempt re-sends the same request message, as Microsoft.Extensions.Http.Resilience does: a request
    /// whose content can be read only once (a non-seekable <see cref="StreamContent"/>) cannot be retried. Responses of
    /// retried attempts are disposed, which gives their permits back. A rejected permit throws
    /// <see cref="RateLimitRejectedException"/>, which the default retry rules do not retry. Whole-call limits are the
    /// client's <see cref="HttpClient.Timeout"/> and the caller's token; cancelling it during a permit wait or a backoff
    /// ends the call at once with <see cref="OperationCanceledException"/>.
    /// </para>
    /// <para>
    /// Do not retry twice: a <see cref="ConcurrentHttpFetcher"/> on a client with this pipeline should leave
    /// <see cref="FetchOptions.Retry"/>, <see cref="FetchOptions.ResiliencePipeline"/> and <see cref="FetchOptions.RateLimiter"/>
    /// unset (or give the client <c>options.Retry = null</c> and keep the fetcher's), or each of its attempts is retried again here.
    /// </para>
    /// </remarks>
    /// <param name="builder">The client builder.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="configure"/> is <see langword="null"/>.</exception>
    public static IHttpClientBuilder AddAttemptPipeline(this IHttpClientBuilder builder, Action<AttemptPipelineOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        return Register(builder, configure);
    }

    /// <summary>
    /// Adds the per-attempt pipeline of <see cref="AddAttemptPipeline(IHttpClientBuilder, Action{AttemptPipelineOptions})"/>
    /// with its options bound from <paramref name="configuration"/>.
    /// </summary>
    /// <remarks>
    /// The keys are <c>AttemptTimeout</c> (<c>hh:mm:ss</c>), <c>RateLimiterName</c> and a <c>Retry</c> section
    /// (<c>MaxRetries</c>, <c>BaseDelay</c>, <c>BackoffType</c>, <c>MaxDelay</c>, <c>MaxTotalDelay</c>, <c>UseJitter</c>)
    /// that changes the default retry. Objects (a limiter instance, callbacks, a clock) and turning retries off
    /// (<c>options.Retry = null</c>) are set in code, with <c>services.Configure&lt;AttemptPipelineOptions&gt;(clientName, ...)</c>.
    /// The binding is read without reflection (trimming- and AOT-safe); a value that does not parse fails the host's start
    /// with an <see cref="InvalidOperationException"/> naming its configuration path, and a value out of range with an
    /// <see cref="OptionsValidationException"/> naming the client.
    /// </remarks>
    /// <param name="builder">The client builder.</param>
    /// <param name="configuration">The section to bind, such as <c>builder.Configuration.GetSection("Http:GitHub")</c>.</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="configuration"/> is <see langword="null"/>.</exception>
    public static IHttpClientBuilder AddAttemptPipeline(this IHttpClientBuilder builder, IConfigurationSection configuration)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configuration);
        return Register(builder, options => options.Bind(configuration));
    }

    private static IHttpClientBuilder Register(IHttpClientBuilder builder, Action<AttemptPipelineOptions> configure)
    {
        var name = builder.Name;
        builder.Services.AddOptions<AttemptPipelineOptions>(name).Configure(configure).ValidateOnStart();
        builder.Services.TryAddEnumerable(
            ServiceDescriptor.Singleton<IValidateOptions<AttemptPipelineOptions>, AttemptPipelineOptionsValidator>());
        return builder.ConfigureAdditionalHttpMessageHandlers((handlers, services) =>
        {
            var options = services.GetRequiredService<IOptionsMonitor<AttemptPipelineOptions>>().Get(name);
            if (options.Retry is { } retry)
            {
                handlers.Add(new HttpRetryHandler(HttpRetry.CreatePipeline(retry)));
            }

            var limiter = options.RateLimiter
                ?? (options.RateLimiterName is { } limiterName ? services.GetRequiredKeyedService<RateLimiter>(limiterName) : null);
            if (limiter is not null)
            {
                handlers.Add(new RateLimitingHandler(limiter));
            }

            if (options.AttemptTimeout != Timeout.InfiniteTimeSpan)
            {
                handlers.Add(new AttemptTimeoutHandler(
                    options.AttemptTimeout, options.TimeProvider ?? services.GetService<TimeProvider>() ?? TimeProvider.System));
            }
        });
    }
}
