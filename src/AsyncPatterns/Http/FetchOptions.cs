using System.Threading.RateLimiting;
using AsyncPatterns.Internal;
using AsyncPatterns.Retries;
using Microsoft.Extensions.Configuration;
using Polly;

namespace AsyncPatterns.Http;

/// <summary>
/// How a <see cref="ConcurrentHttpFetcher"/> fetches: concurrency bounds, per-request timeout, body size limit,
/// fail-fast, and optional rate limiting and retries. Every property is validated when it is set.
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

    private int _maxConcurrency = DefaultMaxConcurrency;
    private int? _maxConcurrencyPerHost;
    private TimeSpan _perRequestTimeout = TimeSpan.FromSeconds(30);
    private long _maxResponseBytes = DefaultMaxResponseBytes;
    private TimeProvider _timeProvider = TimeProvider.System;

    /// <summary>The most requests in flight at once, over all hosts.</summary>
    /// <value>Default 16. At least 1: there is no "unbounded".</value>
    /// <remarks>
    /// A request holds its slot from the moment it is pulled from the source until its result has been consumed, so the
    /// source is pulled only when a slot frees and memory holds at most this many requests and results.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int MaxConcurrency
    {
        get => _maxConcurrency;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1, nameof(MaxConcurrency));
            _maxConcurrency = value;
        }
    }

    /// <summary>The most requests in flight at once to one host (scheme, host and port), or <see langword="null"/> for no per-host bound.</summary>
    /// <value>Default <see langword="null"/>: only <see cref="MaxConcurrency"/> applies.</value>
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
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int? MaxConcurrencyPerHost
    {
        get => _maxConcurrencyPerHost;
        set
        {
            if (value is { } v)
            {
                ArgumentOutOfRangeException.ThrowIfLessThan(v, 1, nameof(MaxConcurrencyPerHost));
            }

            _maxConcurrencyPerHost = value;
        }
    }

    /// <summary>
    /// The longest one attempt may take, from sending the request (after the rate limiter granted its permit) until its
    /// body has been read; <see cref="Timeout.InfiniteTimeSpan"/> for none. Retry delays are not counted.
    /// </summary>
    /// <value>Default 30 seconds. The <see cref="HttpClient.Timeout"/> of the client still applies too.</value>
    /// <remarks>
    /// Inside a <see cref="ResiliencePipeline"/> a timed-out attempt throws <see cref="TimeoutException"/>, which a retry
    /// strategy may retry; the result of a request whose last attempt timed out has <see cref="FetchErrorKind.Timeout"/>.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">
    /// The value is zero or negative (and not infinite), or longer than a timer can wait (<c>uint.MaxValue - 1</c>
    /// milliseconds, about 49.7 days; as <see cref="HttpClient.Timeout"/> and Polly's timeout reject what they cannot arm).
    /// </exception>
    public TimeSpan PerRequestTimeout
    {
        get => _perRequestTimeout;
        set
        {
            if (value != Timeout.InfiniteTimeSpan)
            {
                ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero, nameof(PerRequestTimeout));
                ArgumentOutOfRangeException.ThrowIfGreaterThan(value, TimerLimits.MaxDueTime, nameof(PerRequestTimeout));
            }

            _perRequestTimeout = value;
        }
    }

    /// <summary>
    /// The largest body accepted, in bytes. A <c>Content-Length</c> above it fails at once; a body without one (chunked)
    /// fails as soon as more than this many bytes have been read, so it is never buffered whole.
    /// </summary>
    /// <value>Default 10 MiB (10,485,760 bytes).</value>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public long MaxResponseBytes
    {
        get => _maxResponseBytes;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1, nameof(MaxResponseBytes));
            _maxResponseBytes = value;
        }
    }

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
    /// <value>Default <see cref="TimeProvider.System"/>.</value>
    /// <exception cref="ArgumentNullException">The value is <see langword="null"/>.</exception>
    public TimeProvider TimeProvider
    {
        get => _timeProvider;
        set
        {
            ArgumentNullException.ThrowIfNull(value, nameof(TimeProvider));
            _timeProvider = value;
        }
    }

    /// <summary>
    /// Copies the options and resolves <see cref="Retry"/> into <see cref="ResiliencePipeline"/>, so that a fetcher
    /// holds a snapshot that later changes to these options (or to the retry options) do not affect.
    /// </summary>
    internal FetchOptions Snapshot()
    {
        var copy = (FetchOptions)MemberwiseClone();
        if (Retry is not null)
        {
            if (ResiliencePipeline is not null)
            {
                throw new ArgumentException(
                    $"Set either {nameof(FetchOptions)}.{nameof(Retry)} or {nameof(FetchOptions)}.{nameof(ResiliencePipeline)}, not both: add the retry strategy to the pipeline instead.",
                    nameof(Retry));
            }

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
