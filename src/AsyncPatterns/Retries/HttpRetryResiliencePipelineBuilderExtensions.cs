using Polly;

namespace AsyncPatterns.Retries;

/// <summary>
/// Adds the library's HTTP retry (<see cref="HttpRetry"/>) to a Polly <see cref="ResiliencePipelineBuilder{TResult}"/>
/// of <see cref="HttpResponseMessage"/>, so it composes with Polly's other strategies and with
/// Microsoft.Extensions.Http.Resilience's <c>AddResilienceHandler</c>.
/// </summary>
public static class HttpRetryResiliencePipelineBuilderExtensions
{
    /// <summary>
    /// Adds a retry strategy with the rules of <see cref="HttpRetry.CreatePipeline"/>: 408, 429, 5xx, network errors
    /// and timed-out attempts are retried with the backoff of <paramref name="options"/>; <c>Retry-After</c> (both
    /// forms) is waited exactly, and one longer than <see cref="RetryOptions.MaxDelay"/> or the remaining
    /// <see cref="RetryOptions.MaxTotalDelay"/> ends retrying with that response; failed responses that are retried are disposed.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Strategies added after this one run inside it, once per attempt: add an attempt timeout
    /// (<c>AddTimeout</c>) or a rate limiter after <c>AddHttpRetry</c> to get a new timeout and a new permit per attempt, and
    /// a total timeout before it to bound the whole call.
    /// </para>
    /// <para>
    /// The options are validated, and their pipeline built, when this method is called (with
    /// <c>AddResilienceHandler</c>, when the client's pipeline is first built). The delays run on
    /// <see cref="RetryOptions.TimeProvider"/>, not on the builder's <see cref="ResiliencePipelineBuilderBase.TimeProvider"/>:
    /// give both the same clock in tests. The attempt count is recorded in the execution's <see cref="ResilienceContext"/>
    /// (<see cref="Retry.GetAttemptCount"/>).
    /// </para>
    /// </remarks>
    /// <param name="builder">The builder.</param>
    /// <param name="options">The retry options; <see langword="null"/> means the defaults of <see cref="RetryOptions"/>.</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A value of <paramref name="options"/> is out of range; the message names each property
    /// (<c>RetryOptions.MaxRetries must be zero or more (was -1).</c>).</exception>
    public static ResiliencePipelineBuilder<HttpResponseMessage> AddHttpRetry(
        this ResiliencePipelineBuilder<HttpResponseMessage> builder, RetryOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddPipeline(HttpRetry.CreatePipeline(options));
    }
}
