using System.Threading.RateLimiting;
using AsyncPatterns.Internal;

namespace AsyncPatterns.RateLimiting.Internal;

/// <summary>The rules of <see cref="RequestRateLimiterOptions"/>, checked by the limiter's constructor and at host start.</summary>
internal sealed class RequestRateLimiterOptionsValidator : OptionsValidator<RequestRateLimiterOptions>
{
    public static readonly RequestRateLimiterOptionsValidator Instance = new();

    private RequestRateLimiterOptionsValidator()
    {
    }

    public override string TypeName => nameof(RequestRateLimiterOptions);

    public override void Collect(RequestRateLimiterOptions options, string path, List<string> failures)
    {
        Require(options.MaxConcurrency >= 1, failures, path, nameof(RequestRateLimiterOptions.MaxConcurrency), "at least 1", options.MaxConcurrency);
        Require(options.PermitsPerSecond > 0, failures, path, nameof(RequestRateLimiterOptions.PermitsPerSecond),
            "a positive number (PositiveInfinity for no rate limit)", options.PermitsPerSecond);
        Require(options.Burst >= 1, failures, path, nameof(RequestRateLimiterOptions.Burst), "at least 1", options.Burst);
        Require(options.QueueLimit >= 0, failures, path, nameof(RequestRateLimiterOptions.QueueLimit), "zero or more", options.QueueLimit);
        Require(options.QueueProcessingOrder is QueueProcessingOrder.OldestFirst or QueueProcessingOrder.NewestFirst, failures, path,
            nameof(RequestRateLimiterOptions.QueueProcessingOrder), "QueueProcessingOrder.OldestFirst or QueueProcessingOrder.NewestFirst", options.QueueProcessingOrder);
        Require(options.TimeProvider is not null, failures, path, nameof(RequestRateLimiterOptions.TimeProvider), "set", options.TimeProvider);
    }
}
