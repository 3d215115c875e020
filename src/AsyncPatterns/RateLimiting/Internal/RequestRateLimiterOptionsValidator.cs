using Microsoft.Extensions.Options;

namespace AsyncPatterns.RateLimiting.Internal;

/// <summary>Validates named <see cref="RequestRateLimiterOptions"/> with the rules the limiter's constructor applies.</summary>
internal sealed class RequestRateLimiterOptionsValidator : IValidateOptions<RequestRateLimiterOptions>
{
    public ValidateOptionsResult Validate(string? name, RequestRateLimiterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.FindError() is { } error
            ? ValidateOptionsResult.Fail($"Request rate limiter '{name}': {error.Message}")
            : ValidateOptionsResult.Success;
    }
}
