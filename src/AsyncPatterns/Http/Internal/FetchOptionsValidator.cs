using AsyncPatterns.Internal;
using AsyncPatterns.Retries.Internal;

namespace AsyncPatterns.Http.Internal;

/// <summary>
/// The rules of <see cref="FetchOptions"/>, with the nested <see cref="FetchOptions.Retry"/> (named
/// <c>FetchOptions.Retry.&lt;Property&gt;</c>), checked by the fetcher's constructor and at host start.
/// </summary>
internal sealed class FetchOptionsValidator : OptionsValidator<FetchOptions>
{
    public static readonly FetchOptionsValidator Instance = new();

    private FetchOptionsValidator()
    {
    }

    public override string TypeName => nameof(FetchOptions);

    public override void Collect(FetchOptions options, string path, List<string> failures)
    {
        Require(options.MaxConcurrency >= 1, failures, path, nameof(FetchOptions.MaxConcurrency), "at least 1", options.MaxConcurrency);
        Require(options.MaxConcurrencyPerHost is null or >= 1, failures, path, nameof(FetchOptions.MaxConcurrencyPerHost), "at least 1 or null", options.MaxConcurrencyPerHost);
        var timeout = options.PerRequestTimeout;
        Require(timeout == Timeout.InfiniteTimeSpan || (timeout > TimeSpan.Zero && timeout <= TimerLimits.MaxDueTime), failures, path,
            nameof(FetchOptions.PerRequestTimeout), "positive and at most about 49.7 days (the longest timer), or Timeout.InfiniteTimeSpan", timeout);
        Require(options.MaxResponseBytes >= 1, failures, path, nameof(FetchOptions.MaxResponseBytes), "at least 1", options.MaxResponseBytes);
        Require(options.TimeProvider is not null, failures, path, nameof(FetchOptions.TimeProvider), "set", options.TimeProvider);
        Require(options.Retry is null || options.ResiliencePipeline is null, failures, path, nameof(FetchOptions.Retry),
            $"null when {nameof(FetchOptions.ResiliencePipeline)} is set (add the retry strategy to the pipeline instead)", "set");
        if (options.Retry is { } retry)
        {
            RetryOptionsValidator.Instance.Collect(retry, $"{path}.{nameof(FetchOptions.Retry)}", failures);
        }
    }
}
