using Polly;

namespace AsyncPatterns.Retries.Internal;

/// <summary>
/// Counts the attempts that actually start, under <see cref="Retry.AttemptCountKey"/>: the outer instance (before the
/// retry strategy) resets the count for the execution, the inner one (after it) adds one as each attempt begins. A
/// retry cut short during its delay (cancellation, a throwing callback) is therefore never counted.
/// </summary>
internal sealed class AttemptCountingStrategy : ResilienceStrategy
{
    private readonly bool _outer;

    private AttemptCountingStrategy(bool outer) => _outer = outer;

    public static AttemptCountingStrategy Outer { get; } = new(outer: true);

    public static AttemptCountingStrategy Inner { get; } = new(outer: false);

    protected override ValueTask<Outcome<TResult>> ExecuteCore<TResult, TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<TResult>>> callback,
        ResilienceContext context,
        TState state)
    {
        var count = _outer ? 0 : context.Properties.GetValue(Retry.AttemptCountKey, 0) + 1;
        context.Properties.Set(Retry.AttemptCountKey, count);
        return callback(context, state);
    }
}
