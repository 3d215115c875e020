using System.Threading.RateLimiting;
using AsyncPatterns.Internal;
using AsyncPatterns.Retries.Internal;
using Microsoft.Extensions.DependencyInjection;

namespace AsyncPatterns.Http.Internal;

/// <summary>
/// The rules of <see cref="AttemptPipelineOptions"/>, with the nested <see cref="AttemptPipelineOptions.Retry"/>, checked
/// when the host starts; there, a <see cref="AttemptPipelineOptions.RateLimiterName"/> must also name a registered keyed
/// <see cref="RateLimiter"/>. Messages read <c>AttemptPipelineOptions '&lt;client&gt;': AttemptPipelineOptions.&lt;Property&gt; must be … (was …).</c>
/// </summary>
internal sealed class AttemptPipelineOptionsValidator(IServiceProvider services) : OptionsValidator<AttemptPipelineOptions>
{
    public override string TypeName => nameof(AttemptPipelineOptions);

    public override void Collect(AttemptPipelineOptions options, string path, List<string> failures)
    {
        var timeout = options.AttemptTimeout;
        Require(timeout == Timeout.InfiniteTimeSpan || (timeout > TimeSpan.Zero && timeout <= TimerLimits.MaxDueTime), failures, path,
            nameof(AttemptPipelineOptions.AttemptTimeout), "positive and at most about 49.7 days (the longest timer), or Timeout.InfiniteTimeSpan", timeout);
        if (options.Retry is { } retry)
        {
            RetryOptionsValidator.Instance.Collect(retry, $"{path}.{nameof(AttemptPipelineOptions.Retry)}", failures);
        }

        Require(options.RateLimiter is null || options.RateLimiterName is null, failures, path, nameof(AttemptPipelineOptions.RateLimiterName),
            $"null when {nameof(AttemptPipelineOptions.RateLimiter)} is set (set one or the other)", $"'{options.RateLimiterName}'");
    }

    protected override void CollectAtStart(AttemptPipelineOptions options, string path, List<string> failures)
    {
        Collect(options, path, failures);
        if (options.RateLimiter is null
            && options.RateLimiterName is { } limiterName
            && services.GetService<IServiceProviderIsKeyedService>() is { } keyed
            && !keyed.IsKeyedService(typeof(RateLimiter), limiterName))
        {
            Require(false, failures, path, nameof(AttemptPipelineOptions.RateLimiterName),
                $"the name of a registered keyed RateLimiter (register it with services.AddRequestRateLimiter(\"{limiterName}\", ...) or fix the name)",
                $"'{limiterName}'");
        }
    }
}
