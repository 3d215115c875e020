using Polly;

namespace AsyncPatterns.Retries.Internal;

/// <summary>An immutable snapshot of validated <see cref="RetryOptions"/>, captured by the pipelines built from them.</summary>
internal sealed record RetrySettings(
    int MaxRetries,
    TimeSpan BaseDelay,
    DelayBackoffType BackoffType,
    TimeSpan? MaxDelay,
    TimeSpan? MaxTotalDelay,
    bool UseJitter,
    Func<Outcome<object>, bool>? ShouldRetry,
    Action<RetryAttempt>? OnRetry,
    TimeProvider TimeProvider,
    Func<double>? Randomizer)
{
    /// <summary>The longest single delay: <see cref="MaxDelay"/>, or <see cref="RetryOptions.MaxAllowedDelay"/> when it is not set.</summary>
    public TimeSpan LongestDelay => MaxDelay ?? RetryOptions.MaxAllowedDelay;

    public static RetrySettings From(RetryOptions options) => new(
        options.MaxRetries,
        options.BaseDelay,
        options.BackoffType,
        options.MaxDelay,
        options.MaxTotalDelay,
        options.UseJitter,
        options.ShouldRetry,
        options.OnRetry,
        options.TimeProvider,
        options.Randomizer);
}
