using AsyncPatterns.Internal;
using AsyncPatterns.Retries.Internal;
using Microsoft.Extensions.Configuration;
using Polly;

namespace AsyncPatterns.Retries;

/// <summary>
/// Options of a retry with backoff: how many retries, how long to wait between them and what is worth retrying.
/// They map onto Polly's <see cref="Polly.Retry.RetryStrategyOptions"/>; the backoff and jitter maths are Polly's.
/// </summary>
/// <remarks>
/// The setters only store their value. The options are validated when a pipeline is built from them
/// (<see cref="CreatePipeline"/>, <see cref="Retry"/>, <see cref="HttpRetry.CreatePipeline"/>, or as
/// <see cref="Http.FetchOptions.Retry"/> when a fetcher is created), or by <see cref="Validate"/>: an
/// <see cref="ArgumentException"/> lists every broken rule as <c>RetryOptions.&lt;Property&gt; must be … (was …).</c>
/// (<c>FetchOptions.Retry.&lt;Property&gt;</c> when nested). A built pipeline is a snapshot: changing the
/// options afterwards affects only pipelines built later. Building is cached, so calling <see cref="Retry.ExecuteAsync{T}"/>
/// repeatedly with the same, unchanged options builds one pipeline.
/// </remarks>
public sealed class RetryOptions
{
    /// <summary>
    /// The longest single delay between two attempts: one day. It is the largest <see cref="BaseDelay"/> and
    /// <see cref="MaxDelay"/> accepted (Polly's own limit), and stands in for <see cref="MaxDelay"/> when that is not set:
    /// a computed backoff is capped at it, and for <see cref="HttpRetry.CreatePipeline"/> a <c>Retry-After</c> longer
    /// than it ends retrying. It is well below the longest due time a timer can hold (about 49.7 days), so no delay
    /// can fail to be scheduled.
    /// </summary>
    public static readonly TimeSpan MaxAllowedDelay = TimeSpan.FromDays(1);

    private int _maxRetries = 3;
    private TimeSpan _baseDelay = TimeSpan.FromSeconds(1);
    private DelayBackoffType _backoffType = DelayBackoffType.Exponential;
    private TimeSpan? _maxDelay;
    private TimeSpan? _maxTotalDelay;
    private bool _useJitter = true;
    private Func<Outcome<object>, bool>? _shouldRetry;
    private Action<RetryAttempt>? _onRetry;
    private TimeProvider _timeProvider = TimeProvider.System;
    private Func<double>? _randomizer;
    private int _version;
    private BuiltPipelines? _built;

    /// <summary>Gets or sets how many times a failed attempt is retried, in addition to the original call.</summary>
    /// <value>The default is 3. Zero disables retrying. Must not be negative.</value>
    public int MaxRetries
    {
        get => _maxRetries;
        set => Set(ref _maxRetries, value);
    }

    /// <summary>Gets or sets the base delay of the backoff.</summary>
    /// <value>
    /// The default is 1 second. Must be between zero and <see cref="MaxAllowedDelay"/>. With
    /// <see cref="DelayBackoffType.Exponential"/> and no jitter, retry <c>n</c> (from 0) waits exactly <c>BaseDelay * 2^n</c>:
    /// 1 s, 2 s, 4 s with the defaults.
    /// </value>
    public TimeSpan BaseDelay
    {
        get => _baseDelay;
        set => Set(ref _baseDelay, value);
    }

    /// <summary>Gets or sets how the delay grows from one retry to the next.</summary>
    /// <value>
    /// The default is <see cref="DelayBackoffType.Exponential"/> (<c>BaseDelay * 2^n</c>). <see cref="DelayBackoffType.Linear"/>
    /// waits <c>BaseDelay * (n + 1)</c>, <see cref="DelayBackoffType.Constant"/> waits <c>BaseDelay</c>.
    /// </value>
    public DelayBackoffType BackoffType
    {
        get => _backoffType;
        set => Set(ref _backoffType, value);
    }

    /// <summary>Gets or sets the longest single delay: the cap on every computed backoff, and the longest <c>Retry-After</c> that is waited.</summary>
    /// <value>
    /// The default is <see langword="null"/>: <see cref="MaxAllowedDelay"/> (one day) applies. When set, must be positive
    /// and at most <see cref="MaxAllowedDelay"/>. A computed backoff longer than this is shortened to it. A server's
    /// <c>Retry-After</c> is never shortened (retrying sooner than the server asked is a retry it said it will refuse):
    /// for <see cref="HttpRetry.CreatePipeline"/>, a <c>Retry-After</c> longer than this ends retrying, and that response is the result.
    /// </value>
    public TimeSpan? MaxDelay
    {
        get => _maxDelay;
        set => Set(ref _maxDelay, value);
    }

    /// <summary>Gets or sets the budget of delay one execution may spend waiting between attempts, all retries together.</summary>
    /// <value>
    /// The default is <see langword="null"/>: no budget. When set, must be positive. The budget counts the delays actually
    /// waited (computed backoffs after the <see cref="MaxDelay"/> cap, and <c>Retry-After</c> values as they are). Once the
    /// delays already waited reach the budget, retrying stops and the last outcome is returned or thrown. A server's
    /// <c>Retry-After</c> longer than the budget that remains also stops retrying, instead of sleeping past it. A computed
    /// backoff is not shortened, so the total may exceed the budget by at most one delay.
    /// </value>
    public TimeSpan? MaxTotalDelay
    {
        get => _maxTotalDelay;
        set => Set(ref _maxTotalDelay, value);
    }

    /// <summary>Gets or sets a value indicating whether the delays are randomized to spread out retries of many callers.</summary>
    /// <value>
    /// The default is <see langword="true"/>. Uses Polly's jitter: decorrelated jitter (<c>DecorrelatedJitterBackoffV2</c>)
    /// around the exponential curve, and a random offset of up to ±25% of the delay for linear and constant backoff.
    /// </value>
    public bool UseJitter
    {
        get => _useJitter;
        set => Set(ref _useJitter, value);
    }

    /// <summary>Gets or sets the predicate that decides whether an outcome (an exception or a result) is retried.</summary>
    /// <value>
    /// The default is <see langword="null"/>: retry any exception except <see cref="OperationCanceledException"/> when
    /// the caller's token is cancelled; never retry a result. Whatever the predicate, an outcome is never retried once
    /// the caller's token is cancelled. For <see cref="HttpRetry.CreatePipeline"/>, <see langword="null"/> means
    /// <see cref="HttpRetry.IsTransient(Outcome{HttpResponseMessage})"/>, and a set predicate sees the response as its result.
    /// A predicate that throws ends the execution at once, with no further attempt: when the attempt failed with an
    /// exception, the caller gets an <see cref="AggregateException"/> holding the predicate's exception first and the
    /// attempt's second; when it produced a result, the predicate's exception propagates unchanged, and a result that is
    /// <see cref="IDisposable"/> (for <see cref="HttpRetry.CreatePipeline"/>, the response it was judging) is disposed first.
    /// </value>
    public Func<Outcome<object>, bool>? ShouldRetry
    {
        get => _shouldRetry;
        set => Set(ref _shouldRetry, value);
    }

    /// <summary>Gets or sets a callback invoked before each delay, with the attempt number, the delay and the cause.</summary>
    /// <value>
    /// The default is <see langword="null"/>: no callback. A callback that throws ends the execution the way a throwing
    /// <see cref="ShouldRetry"/> does (an <see cref="AggregateException"/> with the attempt's exception second, or the
    /// callback's own exception after a result); the retry it announced does not happen, and a result that is
    /// <see cref="IDisposable"/> (for <see cref="HttpRetry.CreatePipeline"/>, the response it was given) is disposed.
    /// </value>
    public Action<RetryAttempt>? OnRetry
    {
        get => _onRetry;
        set => Set(ref _onRetry, value);
    }

    /// <summary>Gets or sets the clock the delays are awaited on and <c>Retry-After</c> dates are compared with.</summary>
    /// <value>The default is <see cref="TimeProvider.System"/>. Setting <see langword="null"/> restores the default.</value>
    public TimeProvider TimeProvider
    {
        get => _timeProvider;
        set => Set(ref _timeProvider, value ?? TimeProvider.System);
    }

    /// <summary>Gets or sets the source of random numbers in [0, 1] for the jitter, so tests can make it reproducible.</summary>
    /// <value>
    /// The default is <see langword="null"/>: Polly's thread-safe randomizer. It is called when a jittered delay is computed
    /// (<see cref="UseJitter"/> and a non-zero <see cref="BaseDelay"/>), possibly concurrently, after <see cref="ShouldRetry"/>
    /// decided to retry and before <see cref="OnRetry"/>. A randomizer that throws, or returns a value outside [0, 1]
    /// (NaN, an infinity, a negative value, more than 1; reported as an <see cref="InvalidOperationException"/> saying what it
    /// returned), ends the execution the way a throwing <see cref="ShouldRetry"/> does: no further attempt, an
    /// <see cref="AggregateException"/> with the attempt's exception second, or its own exception after a result, which is
    /// disposed when it is <see cref="IDisposable"/>. A bad value never becomes a corrupt delay.
    /// </value>
    public Func<double>? Randomizer
    {
        get => _randomizer;
        set => Set(ref _randomizer, value);
    }

    /// <summary>Checks the options and throws when they break a rule.</summary>
    /// <exception cref="ArgumentException">A value is out of range; the message lists every one as
    /// <c>RetryOptions.&lt;Property&gt; must be … (was …).</c></exception>
    public void Validate() => RetryOptionsValidator.Instance.ThrowIfInvalid(this, paramName: null);

    /// <summary>
    /// Builds a Polly <see cref="ResiliencePipeline"/> with this retry strategy, on <see cref="TimeProvider"/>, so it can
    /// be composed with Polly's other strategies (<c>new ResiliencePipelineBuilder().AddPipeline(options.CreatePipeline())</c>).
    /// </summary>
    /// <returns>The pipeline; thread-safe and reusable. It records the attempt count under <see cref="Retry.AttemptCountKey"/>.</returns>
    /// <exception cref="ArgumentException">A value is out of range; the message lists every one as
    /// <c>RetryOptions.&lt;Property&gt; must be … (was …).</c></exception>
    public ResiliencePipeline CreatePipeline() => GetBuilt(paramName: null).General;

    /// <summary>The pipelines built from the options, validated first (an <see cref="ArgumentException"/> naming <paramref name="paramName"/>).</summary>
    internal BuiltPipelines GetBuilt(string? paramName)
    {
        var version = Volatile.Read(ref _version);
        var built = Volatile.Read(ref _built);
        if (built is not null && built.Version == version)
        {
            return built;
        }

        RetryOptionsValidator.Instance.ThrowIfInvalid(this, paramName);
        var snapshot = RetrySettings.From(this);
        built = new BuiltPipelines(version, RetryPipelineFactory.Create(snapshot), snapshot);
        Volatile.Write(ref _built, built);
        return built;
    }

    private void Set<TValue>(ref TValue field, TValue value)
    {
        field = value;
        Interlocked.Increment(ref _version);
    }

    /// <summary>Sets the options bound from <paramref name="configuration"/> (the <c>Retry</c> section of a fetcher's configuration).</summary>
    internal void Bind(IConfiguration configuration)
    {
        ConfigurationReader.Int32(configuration, nameof(MaxRetries), v => MaxRetries = v);
        ConfigurationReader.TimeSpan(configuration, nameof(BaseDelay), v => BaseDelay = v);
        ConfigurationReader.Enum<DelayBackoffType>(configuration, nameof(BackoffType), v => BackoffType = v);
        ConfigurationReader.NullableTimeSpan(configuration, nameof(MaxDelay), v => MaxDelay = v);
        ConfigurationReader.NullableTimeSpan(configuration, nameof(MaxTotalDelay), v => MaxTotalDelay = v);
        ConfigurationReader.Boolean(configuration, nameof(UseJitter), v => UseJitter = v);
    }
}
