using Microsoft.Extensions.Options;

namespace AsyncPatterns.Redis.Internal;

/// <summary>Validates named <see cref="RedisRateLimiterOptions"/> with the rules the limiter's constructor applies.</summary>
internal sealed class RedisRateLimiterOptionsValidator : IValidateOptions<RedisRateLimiterOptions>
{
    public ValidateOptionsResult Validate(string? name, RedisRateLimiterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.FindError() is { } error
            ? ValidateOptionsResult.Fail($"Redis rate limiter '{name}': {error.Message}")
            : ValidateOptionsResult.Success;
    }
}
