using AsyncPatterns.Internal;
using Polly;

namespace AsyncPatterns.Retries.Internal;

/// <summary>The rules of <see cref="RetryOptions"/>, checked when a pipeline is built from them, alone or nested in other options.</summary>
internal sealed class RetryOptionsValidator : OptionsValidator<RetryOptions>
{
    public static readonly RetryOptionsValidator Instance = new();

    private RetryOptionsValidator()
    {
    }

    public override string TypeName => nameof(RetryOptions);

    public override void Collect(RetryOptions options, string path, List<string> failures)
    {
        Require(options.MaxRetries >= 0, failures, path, nameof(RetryOptions.MaxRetries), "zero or more", options.MaxRetries);
        Require(options.BaseDelay >= TimeSpan.Zero && options.BaseDelay <= RetryOptions.MaxAllowedDelay, failures, path, nameof(RetryOptions.BaseDelay),
            "between zero and one day (RetryOptions.MaxAllowedDelay)", options.BaseDelay);
        Require(Enum.IsDefined(options.BackoffType), failures, path, nameof(RetryOptions.BackoffType),
            "DelayBackoffType.Constant, DelayBackoffType.Linear or DelayBackoffType.Exponential", options.BackoffType);
        Require(options.MaxDelay is not { } maxDelay || (maxDelay > TimeSpan.Zero && maxDelay <= RetryOptions.MaxAllowedDelay), failures, path,
            nameof(RetryOptions.MaxDelay), "positive and at most one day (RetryOptions.MaxAllowedDelay), or null", options.MaxDelay);
        Require(options.MaxTotalDelay is not { } budget || budget > TimeSpan.Zero, failures, path, nameof(RetryOptions.MaxTotalDelay),
            "positive or null", options.MaxTotalDelay);
    }
}
