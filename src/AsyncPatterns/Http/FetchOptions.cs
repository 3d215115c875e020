using System.Threading.RateLimiting;
using AsyncPatterns.Http.Internal;
using AsyncPatterns.Internal;
using AsyncPatterns.Retries;
using Microsoft.Extensions.Configuration;
using Polly;

namespace AsyncPatterns.Http;

/// <summary>
/// How a <see cref="ConcurrentHttpFetcher"/> fetches: concurrency bounds, per-request timeout, body size limit,
/// fail-fast, and optional rate limiting and retries. The setters only store their value: the options (with the nested
/// <see cref="Retry"/>) are validated when a fetcher is created, which throws an <see cref="ArgumentException"/> naming
/// the <c>options</c> parameter and listing every broken rule as <c>FetchOptions.&lt;Property&gt; must be … (was …).</c>
/// (<c>FetchOptions.Retry.MaxRetries …</c> for the nested options); under <c>AddConcurrentHttpFetcher</c> the same rules
/// fail the host's start with an <see cref="Microsoft.Extensions.Options.OptionsValidationException"/> naming the fetcher.
/// </summary>
/// <remarks>
/// A fetcher copies its options when it is created: changing the object afterwards does not change the fetcher.
/// </remarks>
public sealed class FetchOptions
{
    /// <summary>The default of <see cref="MaxConcurrency"/>: 16.</summary>
    public const int DefaultMaxConcurrency = 16;

    /// <summary>The default of <see cref="MaxResponseBytes"/>: 10 MiB.</summary>
    public const long DefaultMaxResponseBytes = 10 * 1024 * 1024;

    /// <summary>The most requests in flight at once, over all hosts.</summary>
    /// <value>Default 16. At least 1: there is no "unbounded".</value>
    /// <remarks>
    /// A request holds its slot from the moment it is pulled from the source until its result has been consumed, so the
    /// source is pulled only when a slot frees and memory holds at most this many requests and results.
    /// </remarks>
    public int MaxConcurrency { get; set; } = DefaultMaxConcurrency;

    /// <summary>The most requests in flight at once to one host (scheme, host and port), or <see langword="null"/> for no per-host bound.</summary>
    /// <value>Default <see langword="null"/>: only <see cref="MaxConcurrency"/> applies. At least 1 when set.</value>
    /// <remarks>
    /// <para>
    /// A host is its scheme, its host name in ASCII (IDN) form without case or a trailing dot, and its port (the
    /// default port when none is written); user info plays no part, so <c>http://a@host/</c> and <c>http://HOST.:80/</c>
    /// share one bound. A host's bound is kept only while it has a request in flight or waiting.
    /// </para>
    /// <para>
    /// A request waiting for its host holds its global slot, so a source that lists one host many times in a row
    /// waits for that host instead of pulling further ahead.
    /// </para>
    /// </remarks>
    public int? MaxConcurrencyPerHost { get; set; }

    /// <summary>
    /// The longest one attempt may take, from sending the request (after the rate limiter granted its permit) until its
    /// body has been read; <see cref="Timeout.InfiniteTimeSpan"/> for none. Retry delays are not counted.
    /// </summary>
    /// <value>Default 30 seconds. The <see cref="HttpClient.Timeout"/> of the client still applies too. Positive and at most
    /// the longest due time a timer holds (<c>uint.MaxValue - 1</c> milliseconds, about 49.7 days; as <see cref="HttpClient.Timeout"/>
    /// and Polly's timeout reject what they cannot arm), or <see cref="Timeout.InfiniteTimeSpan"/>.</value>
    /// <remarks>
    /// Inside a <see cref="ResiliencePipeline"/> a timed-out attempt throws <see cref="TimeoutException"/>, which a retry
    /// strategy may retry; the result of a request whose last attempt timed out has <see cref="FetchErrorKind.Timeout"/>.
    /// </remarks>
    public TimeSpan PerRequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The largest body accepted, in bytes. A <c>Content-Length</c> above it fails at once; a body without one (chunked)
    /// fails as soon as more than this many bytes have been read, so it is never buffered whole.
    /// </summary>
    /// <value>Default 10 MiB (10,485,760 bytes). At least 1.</value>
    public long MaxResponseBytes { get; set; } = DefaultMaxResponseBytes;

    /// <summary>
    /// Whether the first failed request cancels the others, starts nothing new, and is thrown as a
    /// <see cref="FetchFailedException"/> instead of being returned as a result.
    /// </summary>
    /// <value>Default <see langword="false"/>: every request gets a result.</value>
    public bool FailFast { get; set; }

    /// <summary>
    /// A rate limiter every attempt acquires one permit from (<c>AcquireAsync(1)</c>) before it is sent, or
    /// <see langword="null"/> for none. The fetcher does not own it and never disposes it.
    /// </summary>
    /// <value>Default <see langword="null"/>.</value>
    /// <remarks>
    /// The lease is held while the attempt is sent and its response headers arrive, then disposed (which gives a
    /// concurrency permit back). A lease that is not acquired (the limiter's queue is full) sends nothing: inside a
    /// <see cref="ResiliencePipeline"/> it surfaces as an exception a retry strategy may retry, and the request's result
    /// has <see cref="FetchErrorKind.RateLimited"/> if it was the last attempt. A limiter that queues makes the attempt wait.
    /// </remarks>
    public RateLimiter? RateLimiter { get; set; }

    /// <summary>
    /// A Polly pipeline every request runs through (retries, hedging, circuit breaking), or <see langword="null"/> for a
    /// single attempt. Each execution of its callback is one attempt: a new request message, a new rate-limiter permit
    /// and a new <see cref="PerRequestTimeout"/>.
    /// </summary>
    /// <value>Default <see langword="null"/>.</value>
    /// <remarks>
    /// Responses of attempts that are retried are disposed by the fetcher (whether or not the pipeline does), so none
    /// leaks. The pipeline's own <see cref="TimeProvider"/> drives its delays; give it the same one as
    /// <see cref="TimeProvider"/> in tests.
    /// </remarks>
    public ResiliencePipeline<HttpResponseMessage>? ResiliencePipeline { get; set; }

    /// <summary>
    /// Retries with backoff for every request, as <see cref="HttpRetry.CreatePipeline"/> builds them from these options
    /// (408, 429, 5xx, network errors and timed-out attempts are retried; <c>Retry-After</c> is honoured), or
    /// <see langword="null"/> for none. The short form of <see cref="ResiliencePipeline"/>: set one or the other.
    /// </summary>
    /// <value>Default <see langword="null"/>.</value>
    /// <remarks>
    /// The pipeline is built, and the retry options validated, when the fetcher is created. Give
    /// <see cref="RetryOptions.TimeProvider"/> the same clock as <see cref="TimeProvider"/> in tests.
    /// </remarks>
    public RetryOptions? Retry { get; set; }

    /// <summary>The clock of timeouts and of <see cref="FetchResult{T}.Elapsed"/>.</summary>
    /// <value>Default <see cref="TimeProvider.System"/>. Must not be <see langword="null"/>.</value>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Copies the options and resolves <see cref="Retry"/> into <see cref="ResiliencePipeline"/>, so that a fetcher
    /// holds a snapshot that later changes to these options (or to the retry options) do not affect.
    /// </summary>
    /// <exception cref="ArgumentException">The options (or the nested retry options) break a rule; the message lists each one.</exception>
    internal FetchOptions Snapshot(string paramName)
    {
        FetchOptionsValidator.Instance.ThrowIfInvalid(this, paramName);
        var copy = (FetchOptions)MemberwiseClone();
        if (Retry is not null)
        {
            copy.ResiliencePipeline = HttpRetry.CreatePipeline(Retry);
        }

        return copy;
    }

    /// <summary>Sets the options bound from <paramref name="configuration"/> (the keys of the configuration overload of <c>AddConcurrentHttpFetcher</c>).</summary>
    internal void Bind(IConfiguration configuration)
    {
        ConfigurationReader.Int32(configuration, nameof(MaxConcurrency), v => MaxConcurrency = v);
        ConfigurationReader.NullableInt32(configuration, nameof(MaxConcurrencyPerHost), v => MaxConcurrencyPerHost = v);
        ConfigurationReader.TimeSpan(configuration, nameof(PerRequestTimeout), v => PerRequestTimeout = v);
        ConfigurationReader.Int64(configuration, nameof(MaxResponseBytes), v => MaxResponseBytes = v);
        ConfigurationReader.Boolean(configuration, nameof(FailFast), v => FailFast = v);
        var retry = configuration.GetSection(nameof(Retry));
        if (retry.Exists())
        {
            Retry ??= new RetryOptions();
            Retry.Bind(retry);
        }
    }
}
