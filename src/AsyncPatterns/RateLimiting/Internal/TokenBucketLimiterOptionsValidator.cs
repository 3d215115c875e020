using System.Threading.RateLimiting;
using AsyncPatterns.Internal;

namespace AsyncPatterns.RateLimiting.Internal;

/// <summary>The rules of <see cref="TokenBucketLimiterOptions"/>, checked by the limiter's constructor.</summary>
internal sealed class TokenBucketLimiterOptionsValidator : OptionsValidator<TokenBucketLimiterOptions>
{
    public static readonly TokenBucketLimiterOptionsValidator Instance = new();

    private TokenBucketLimiterOptionsValidator()
    {
    }

    public override string TypeName => nameof(TokenBucketLimiterOptions);

    public override void Collect(TokenBucketLimiterOptions options, string path, List<string> failures)
    {
        Require(options.TokenLimit >= 1, failures, path, nameof(TokenBucketLimiterOptions.TokenLimit), "at least 1", options.TokenLimit);
        Require(options.TokensPerPeriod >= 1, failures, path, nameof(TokenBucketLimiterOptions.TokensPerPeriod), "at least 1", options.TokensPerPeriod);
        Require(options.ReplenishmentPeriod > TimeSpan.Zero, failures, path, nameof(TokenBucketLimiterOptions.ReplenishmentPeriod),
            "positive", options.ReplenishmentPeriod);
        Require(options.QueueLimit >= 0, failures, path, nameof(TokenBucketLimiterOptions.QueueLimit), "zero or more", options.QueueLimit);
        Require(options.QueueProcessingOrder is QueueProcessingOrder.OldestFirst or QueueProcessingOrder.NewestFirst, failures, path,
            nameof(TokenBucketLimiterOptions.QueueProcessingOrder), "QueueProcessingOrder.OldestFirst or QueueProcessingOrder.NewestFirst", options.QueueProcessingOrder);
        Require(options.TimeProvider is not null, failures, path, nameof(TokenBucketLimiterOptions.TimeProvider), "set", options.TimeProvider);
    }
}
