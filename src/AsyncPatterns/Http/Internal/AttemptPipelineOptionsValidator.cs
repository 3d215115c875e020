using System.Threading.RateLimiting;
using AsyncPatterns.Internal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AsyncPatterns.Http.Internal;

/// <summary>
/// Checks <see cref="AttemptPipelineOptions"/> when the host starts: the timeout's range, the retry options, and that
/// a named limiter is registered. Messages name the client: <c>AttemptPipelineOptions.&lt;Property&gt; of client 'x' must be … (was …).</c>
/// </summary>
internal sealed class AttemptPipelineOptionsValidator(IServiceProvider services) : IValidateOptions<AttemptPipelineOptions>
{
    public ValidateOptionsResult Validate(string? name, AttemptPipelineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var client = $"of client '{name}'";
        var failures = new List<string>();
        var timeout = options.AttemptTimeout;
        if (timeout != Timeout.InfiniteTimeSpan && (timeout <= TimeSpan.Zero || timeout > TimerLimits.MaxDueTime))
        {
            failures.Add(
                $"AttemptPipelineOptions.AttemptTimeout {client} must be positive and at most {TimerLimits.MaxDueTime}, or Timeout.InfiniteTimeSpan (was {timeout}).");
        }

        if (options.Retry is { } retry)
        {
            try
            {
                retry.Validate();
            }
            catch (ArgumentOutOfRangeException exception)
            {
                failures.Add($"AttemptPipelineOptions.Retry.{exception.ParamName} {client} is invalid (was {exception.ActualValue}): {FirstLine(exception.Message)}");
            }
        }

        if (options.RateLimiter is not null && options.RateLimiterName is not null)
        {
            failures.Add($"AttemptPipelineOptions.RateLimiter and RateLimiterName {client} must not both be set (was '{options.RateLimiterName}' and an instance): set one or the other.");
        }
        else if (options.RateLimiterName is { } limiterName
            && services.GetService<IServiceProviderIsKeyedService>() is { } keyed
            && !keyed.IsKeyedService(typeof(RateLimiter), limiterName))
        {
            failures.Add(
                $"AttemptPipelineOptions.RateLimiterName {client} must name a registered keyed RateLimiter (was '{limiterName}'): register it with services.AddRequestRateLimiter(\"{limiterName}\", ...) or fix the name.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static string FirstLine(string message)
    {
        var end = message.IndexOf(" (Parameter", StringComparison.Ordinal);
        return (end < 0 ? message : message[..end]).Split('\n')[0].Trim();
    }
}
