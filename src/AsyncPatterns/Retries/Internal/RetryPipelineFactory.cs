using System.Diagnostics.Metrics;
using AsyncPatterns.Internal;
using Polly;
using Polly.Retry;

namespace AsyncPatterns.Retries.Internal;

/// <summary>Maps <see cref="RetrySettings"/> onto Polly's retry strategy; Polly does the backoff, jitter and waiting.</summary>
internal static class RetryPipelineFactory
{
    /// <summary>The delay already waited in the current execution, for <see cref="RetryOptions.MaxTotalDelay"/>.</summary>
    internal static readonly ResiliencePropertyKey<TimeSpan> DelaySpentKey = new("AsyncPatterns.Retries.DelaySpent");

    private static readonly Counter<long> s_retries = Telemetry.Meter.CreateCounter<long>(
        "asyncpatterns.retries.retries", unit: "{retry}", description: "Retries scheduled after a failed attempt.");

    public static ResiliencePipeline Create(RetrySettings settings)
    {
        if (settings.MaxRetries == 0)
        {
            return ResiliencePipeline.Empty;
        }

        var options = new RetryStrategyOptions
        {
            MaxRetryAttempts = settings.MaxRetries,
            Delay = settings.BaseDelay,
            BackoffType = settings.BackoffType,
            MaxDelay = settings.MaxDelay,
            UseJitter = settings.UseJitter,
            ShouldHandle = args => new ValueTask<bool>(ShouldHandle(settings, args.Context, args.Outcome)),
            OnRetry = args =>
            {
                Record(settings, args.Context, args.AttemptNumber, args.RetryDelay, args.Outcome.Exception, args.Outcome.Result);
                return default;
            },
        };
        if (settings.Randomizer is { } randomizer)
        {
            options.Randomizer = randomizer;
        }

        return new ResiliencePipelineBuilder { TimeProvider = settings.TimeProvider }.AddRetry(options).Build();
    }

    public static ResiliencePipeline<HttpResponseMessage> CreateHttp(RetrySettings settings)
    {
        if (settings.MaxRetries == 0)
        {
            return ResiliencePipeline<HttpResponseMessage>.Empty;
        }

        var options = new RetryStrategyOptions<HttpResponseMessage>
        {
            MaxRetryAttempts = settings.MaxRetries,
            Delay = settings.BaseDelay,
            BackoffType = settings.BackoffType,
            MaxDelay = settings.MaxDelay,
            UseJitter = settings.UseJitter,
            ShouldHandle = args => new ValueTask<bool>(ShouldHandleHttp(settings, args.Context, args.Outcome)),
            DelayGenerator = args => new ValueTask<TimeSpan?>(RetryAfterDelay(settings, args.Outcome)),
            OnRetry = args =>
            {
                Record(settings, args.Context, args.AttemptNumber, args.RetryDelay, args.Outcome.Exception, args.Outcome.Result);
                args.Outcome.Result?.Dispose();
                return default;
            },
        };
        if (settings.Randomizer is { } randomizer)
        {
            options.Randomizer = randomizer;
        }

        return new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = settings.TimeProvider }.AddRetry(options).Build();
    }

    private static bool ShouldHandle(RetrySettings settings, ResilienceContext context, Outcome<object> outcome)
    {
        if (context.CancellationToken.IsCancellationRequested || BudgetSpent(settings, context))
        {
            return false;
        }

        return settings.ShouldRetry is { } predicate
            ? predicate(outcome)
            : outcome.Exception is not null;
    }

    private static bool ShouldHandleHttp(RetrySettings settings, ResilienceContext context, Outcome<HttpResponseMessage> outcome)
    {
        if (context.CancellationToken.IsCancellationRequested || BudgetSpent(settings, context))
        {
            return false;
        }

        var retry = settings.ShouldRetry is { } predicate
            ? predicate(outcome.Exception is { } exception ? Outcome.FromException<object>(exception) : Outcome.FromResult<object>(outcome.Result))
            : HttpRetry.IsTransient(outcome);
        if (!retry)
        {
            return false;
        }

        // A server that asks for more time than the budget has left is not retried: sleeping past the budget helps nobody.
        if (settings.MaxTotalDelay is { } budget
            && outcome.Result is { } response
            && HttpRetry.GetRetryAfter(response, settings.TimeProvider) is { } retryAfter
            && retryAfter > budget - context.Properties.GetValue(DelaySpentKey, TimeSpan.Zero))
        {
            return false;
        }

        return true;
    }

    private static TimeSpan? RetryAfterDelay(RetrySettings settings, Outcome<HttpResponseMessage> outcome)
    {
        if (outcome.Result is not { } response || HttpRetry.GetRetryAfter(response, settings.TimeProvider) is not { } retryAfter)
        {
            return null;
        }

        return settings.MaxDelay is { } cap && retryAfter > cap ? cap : retryAfter;
    }

    private static bool BudgetSpent(RetrySettings settings, ResilienceContext context) =>
        settings.MaxTotalDelay is { } budget && context.Properties.GetValue(DelaySpentKey, TimeSpan.Zero) >= budget;

    private static void Record(RetrySettings settings, ResilienceContext context, int zeroBasedAttempt, TimeSpan delay, Exception? exception, object? result)
    {
        s_retries.Add(1);
        var failedAttempt = zeroBasedAttempt + 1;
        context.Properties.Set(Retry.AttemptCountKey, failedAttempt + 1);
        if (settings.MaxTotalDelay is not null)
        {
            context.Properties.Set(DelaySpentKey, context.Properties.GetValue(DelaySpentKey, TimeSpan.Zero) + delay);
        }

        settings.OnRetry?.Invoke(new RetryAttempt(failedAttempt, delay, exception, result));
    }
}
