using Microsoft.Extensions.Options;

namespace AsyncPatterns.Redis.Internal;

/// <summary>
/// Validates named <see cref="RedisRateLimiterOptions"/> with the rules the limiter's constructor applies, in the form
/// <c>RedisRateLimiterOptions '&lt;name&gt;': RedisRateLimiterOptions.&lt;Property&gt; must be … (was …).</c>
/// </summary>
internal sealed class RedisRateLimiterOptionsValidator : IValidateOptions<RedisRateLimiterOptions>
{
    public ValidateOptionsResult Validate(string? name, RedisRateLimiterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.FindError() is { } error
            ? ValidateOptionsResult.Fail($"{nameof(RedisRateLimiterOptions)} '{name}': {RuleText(error)}")
            : ValidateOptionsResult.Success;
    }

    /// <summary>The rule's own text, without the parameter and value lines an <see cref="ArgumentException"/> appends to it.</summary>
    private static string RuleText(ArgumentException error)
    {
        var message = error.Message;
        var end = message.IndexOf(" (Parameter '", StringComparison.Ordinal);
        return (end < 0 ? message : message[..end]).Split('\n')[0].TrimEnd();
    }
}
