using System.Globalization;
using Polly;

namespace AsyncPatterns.Retries.Internal;

/// <summary>
/// Contains a user's <see cref="RetryOptions.Randomizer"/>. Polly calls it while computing a jittered delay, after the
/// outcome was judged worth retrying and before <c>OnRetry</c>, where nothing of ours could dispose the outcome or keep
/// the attempt's exception. So the checked randomizer throws a private <see cref="RandomizerFailedException"/>, and this
/// strategy, just outside Polly's retry, turns it into the documented outcome: the result being retried is disposed and
/// the randomizer's error propagates the way a throwing <see cref="RetryOptions.ShouldRetry"/> does. The outcome comes
/// from <see cref="PendingAttemptKey"/>, which <see cref="RetryPipelineFactory"/> sets when it decides to retry and
/// clears once the retry is announced.
/// </summary>
internal sealed class RandomizerGuard : ResilienceStrategy
{
    /// <summary>The outcome being retried, between the decision to retry and <c>OnRetry</c>.</summary>
    internal static readonly ResiliencePropertyKey<PendingAttempt?> PendingAttemptKey = new("AsyncPatterns.Retries.PendingAttempt");

    private RandomizerGuard()
    {
    }

    public static RandomizerGuard Instance { get; } = new();

    /// <summary>Wraps <paramref name="randomizer"/> so that its failure, or a value outside [0, 1], reaches <see cref="Instance"/>.</summary>
    public static Func<double> Checked(Func<double> randomizer) => () =>
    {
        double value;
        try
        {
            value = randomizer();
        }
        catch (Exception ex)
        {
            throw new RandomizerFailedException(ex);
        }

        // Written so that NaN fails too.
        if (!(value >= 0.0 && value <= 1.0))
        {
            throw new RandomizerFailedException(new InvalidOperationException(string.Create(
                CultureInfo.InvariantCulture,
                $"RetryOptions.Randomizer returned {value}; it must return a value between 0 and 1.")));
        }

        return value;
    };

    protected override async ValueTask<Outcome<TResult>> ExecuteCore<TResult, TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<TResult>>> callback,
        ResilienceContext context,
        TState state)
    {
        try
        {
            return await callback(context, state).ConfigureAwait(false);
        }
        catch (RandomizerFailedException failure)
        {
            var pending = context.Properties.GetValue(PendingAttemptKey, null);
            context.Properties.Set(PendingAttemptKey, null);
            (pending?.Result as IDisposable)?.Dispose();
            return Outcome.FromException<TResult>(
                RetryPipelineFactory.CallbackFailed(nameof(RetryOptions.Randomizer), failure.InnerException!, pending?.Exception));
        }
    }

    /// <summary>The outcome of the attempt being retried.</summary>
    internal sealed record PendingAttempt(Exception? Exception, object? Result);

    /// <summary>Carries the randomizer's failure through Polly's retry strategy; never leaves the pipeline.</summary>
    private sealed class RandomizerFailedException(Exception inner) : Exception(inner.Message, inner);
}
