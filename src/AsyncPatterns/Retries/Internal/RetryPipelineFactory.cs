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
            MaxDelay = settings.LongestDelay,
            UseJitter = settings.UseJitter,
            ShouldHandle = args => new ValueTask<bool>(Remember(
                settings, args.Context, args.AttemptNumber, ShouldHandle(settings, args.Context, args.Outcome), args.Outcome.Exception, args.Outcome.Result)),
            OnRetry = args =>
            {
                try
                {
                    Record(settings, args.Context, args.AttemptNumber, args.RetryDelay, args.Outcome.Exception, args.Outcome.Result);
                }
                catch (Exception)
                {
                    // Abandoned by a throwing OnRetry: the result Polly would have disposed before the retry is disposed here.
                    (args.Outcome.Result as IDisposable)?.Dispose();
                    throw;
                }

                return default;
            },
        };
        var builder = new ResiliencePipelineBuilder { TimeProvider = settings.TimeProvider }
            .AddStrategy(static _ => AttemptCountingStrategy.Outer);
        if (settings.Randomizer is { } randomizer)
        {
            options.Randomizer = RandomizerGuard.Checked(randomizer);
            builder.AddStrategy(static _ => RandomizerGuard.Instance);
        }

        return builder
            .AddRetry(options)
            .AddStrategy(static _ => AttemptCountingStrategy.Inner)
            .Build();
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
            MaxDelay = settings.LongestDelay,
            UseJitter = settings.UseJitter,
            ShouldHandle = args => new ValueTask<bool>(Remember(
                settings, args.Context, args.AttemptNumber, ShouldHandleHttp(settings, args.Context, args.Outcome), args.Outcome.Exception, args.Outcome.Result)),
            DelayGenerator = args => new ValueTask<TimeSpan?>(RetryAfterDelay(settings, args.Outcome)),
            OnRetry = args =>
            {
                try
                {
                    Record(settings, args.Context, args.AttemptNumber, args.RetryDelay, args.Outcome.Exception, args.Outcome.Result);
                }
                finally
                {
                    // Retried, or abandoned by a throwing OnRetry: either way nobody else will dispose it.
                    args.Outcome.Result?.Dispose();
                }

                return default;
            },
        };
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = settings.TimeProvider }
            .AddStrategy(static _ => AttemptCountingStrategy.Outer);
        if (settings.Randomizer is { } randomizer)
        {
            options.Randomizer = RandomizerGuard.Checked(randomizer);
            builder.AddStrategy(static _ => RandomizerGuard.Instance);
        }

        return builder
            .AddRetry(options)
            .AddStrategy(static _ => AttemptCountingStrategy.Inner)
            .Build();
    }

    private static bool ShouldHandle(RetrySettings settings, ResilienceContext context, Outcome<object> outcome)
    {
        if (context.CancellationToken.IsCancellationRequested || BudgetSpent(settings, context))
        {
            return false;
        }

        return settings.ShouldRetry is { } predicate
            ? Judge(predicate, outcome, outcome.Result as IDisposable)
            : outcome.Exception is not null;
    }

    private static bool ShouldHandleHttp(RetrySettings settings, ResilienceContext context, Outcome<HttpResponseMessage> outcome)
    {
        if (context.CancellationToken.IsCancellationRequested || BudgetSpent(settings, context))
        {
            return false;
        }

        var retry = settings.ShouldRetry is { } predicate
            ? Judge(
                predicate,
                outcome.Exception is { } exception ? Outcome.FromException<object>(exception) : Outcome.FromResult<object>(outcome.Result),
                outcome.Result)
            : HttpRetry.IsTransient(outcome);
        if (!retry || outcome.Result is not { } response || ReadRetryAfter(settings, response) is not { } retryAfter)
        {
            return retry;
        }

        // A server's Retry-After is never shortened: retrying sooner is a retry the server said it will refuse. One that
        // asks for longer than a single delay may last, or than the budget has left, ends retrying with this response.
        return retryAfter <= settings.LongestDelay
            && (settings.MaxTotalDelay is not { } budget || retryAfter <= budget - context.Properties.GetValue(DelaySpentKey, TimeSpan.Zero));
    }

    private static TimeSpan? RetryAfterDelay(RetrySettings settings, Outcome<HttpResponseMessage> outcome) =>
        outcome.Result is { } response ? ReadRetryAfter(settings, response) : null;

    /// <summary>
    /// Reads <c>Retry-After</c>; an HTTP-date needs the options' clock. A clock that throws ends the execution with its
    /// exception, and the response, which nobody else will see, is disposed first.
    /// </summary>
    private static TimeSpan? ReadRetryAfter(RetrySettings settings, HttpResponseMessage response)
    {
        try
        {
            return HttpRetry.GetRetryAfter(response, settings.TimeProvider);
        }
        catch (Exception)
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs <see cref="RetryOptions.ShouldRetry"/>. When it throws, the result it was judging is disposed (no one else
    /// can), and its exception propagates: alone when the attempt produced a result, or in an <see cref="AggregateException"/>
    /// after it, with the attempt's exception second, so neither is hidden.
    /// </summary>
    private static bool Judge(Func<Outcome<object>, bool> predicate, Outcome<object> outcome, IDisposable? result)
    {
        try
        {
            return predicate(outcome);
        }
        catch (Exception callbackException)
        {
            result?.Dispose();
            throw CallbackFailed(nameof(RetryOptions.ShouldRetry), callbackException, outcome.Exception);
        }
    }

    /// <summary>
    /// Remembers the outcome Polly is about to retry for <see cref="RandomizerGuard"/>, when Polly will call the user's
    /// randomizer before the retry is announced (not after the last attempt, which is never retried).
    /// </summary>
    private static bool Remember(RetrySettings settings, ResilienceContext context, int zeroBasedAttempt, bool retry, Exception? exception, object? result)
    {
        if (retry && settings.Randomizer is not null && zeroBasedAttempt < settings.MaxRetries)
        {
            context.Properties.Set(RandomizerGuard.PendingAttemptKey, new RandomizerGuard.PendingAttempt(exception, result));
        }

        return retry;
    }

    /// <summary>
    /// The exception a throwing callback ends the execution with: its own, alone (stack trace kept), after a result; or an
    /// <see cref="AggregateException"/> holding it first and the attempt's exception second.
    /// </summary>
    internal static Exception CallbackFailed(string callback, Exception callbackException, Exception? attemptException) =>
        attemptException is null
            ? Rethrown(callbackException)
            : new AggregateException(
                $"RetryOptions.{callback} threw while handling a failed attempt; its exception is first, the attempt's second.",
                callbackException,
                attemptException);

    /// <summary>Keeps the callback's own stack trace when it propagates alone.</summary>
    private static Exception Rethrown(Exception exception)
    {
        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(exception).Throw();
        return exception;
    }

    private static bool BudgetSpent(RetrySettings settings, ResilienceContext context) =>
        settings.MaxTotalDelay is { } budget && context.Properties.GetValue(DelaySpentKey, TimeSpan.Zero) >= budget;

    private static void Record(RetrySettings settings, ResilienceContext context, int zeroBasedAttempt, TimeSpan delay, Exception? exception, object? result)
    {
        if (settings.Randomizer is not null)
        {
            // The delay is computed: the randomizer is done with this outcome.
            context.Properties.Set(RandomizerGuard.PendingAttemptKey, null);
        }

        s_retries.Add(1);
        var failedAttempt = zeroBasedAttempt + 1;
        if (settings.MaxTotalDelay is not null)
        {
            context.Properties.Set(DelaySpentKey, context.Properties.GetValue(DelaySpentKey, TimeSpan.Zero) + delay);
        }

        if (settings.OnRetry is not { } onRetry)
        {
            return;
        }

        try
        {
            onRetry(new RetryAttempt(failedAttempt, delay, exception, result));
        }
        catch (Exception callbackException)
        {
            throw CallbackFailed(nameof(RetryOptions.OnRetry), callbackException, exception);
        }
    }
}
