using Polly;

namespace AsyncPatterns.Retries;

/// <summary>
/// Retries an operation with backoff, on Polly's retry strategy, configured by <see cref="RetryOptions"/>.
/// </summary>
/// <remarks>
/// When every attempt fails, the last exception propagates unchanged, with its original stack trace; its
/// <see cref="Exception.Data"/> holds the number of attempts that started under <see cref="AttemptCountDataKey"/>
/// (a retry cut short during its delay is not counted). A <see cref="RetryOptions.ShouldRetry"/>,
/// <see cref="RetryOptions.OnRetry"/> or <see cref="RetryOptions.Randomizer"/> that throws ends the execution: see those
/// properties for what the caller sees. <see cref="RetryOptions.TimeProvider"/> is trusted not to throw; if it does, its
/// exception propagates.
/// Cancelling the caller's token ends at once, during an attempt or a delay, with an <see cref="OperationCanceledException"/>;
/// no further attempt starts. All members are thread-safe and may be called concurrently.
/// </remarks>
public static class Retry
{
    /// <summary>The key under which the number of attempts is stored in <see cref="Exception.Data"/> of the exception that ends a retry.</summary>
    public const string AttemptCountDataKey = "AsyncPatterns.Retries.AttemptCount";

    private static readonly RetryOptions s_defaultOptions = new();

    /// <summary>
    /// Gets the key of the <see cref="ResilienceContext"/> property where pipelines built by <see cref="RetryOptions.CreatePipeline"/>
    /// and <see cref="HttpRetry.CreatePipeline"/> record the number of attempts started so far (1 for the original call).
    /// Read it with <see cref="GetAttemptCount"/> after the execution.
    /// </summary>
    public static ResiliencePropertyKey<int> AttemptCountKey { get; } = new("AsyncPatterns.Retries.AttemptCount");

    /// <summary>
    /// Gets how many attempts an execution with <paramref name="context"/> made, through a pipeline built by
    /// <see cref="RetryOptions.CreatePipeline"/> or <see cref="HttpRetry.CreatePipeline"/>.
    /// </summary>
    /// <param name="context">The context the pipeline was executed with (before it is returned to its pool).</param>
    /// <returns>The number of attempts: 1 when the first call settled the outcome.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="context"/> is <see langword="null"/>.</exception>
    public static int GetAttemptCount(ResilienceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Properties.GetValue(AttemptCountKey, 1);
    }

    /// <summary>Runs <paramref name="operation"/>, retrying it as <paramref name="options"/> say.</summary>
    /// <typeparam name="T">The type of the operation's value.</typeparam>
    /// <param name="operation">The operation; it receives the caller's token.</param>
    /// <param name="options">The retry options; <see langword="null"/> means the defaults of <see cref="RetryOptions"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The value of the first successful attempt (or of the last one, when <see cref="RetryOptions.ShouldRetry"/> judged results).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="operation"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A value of <paramref name="options"/> is out of range; the message names each property
    /// (<c>RetryOptions.MaxRetries must be zero or more (was -1).</c>).</exception>
    /// <exception cref="OperationCanceledException">The caller's token was cancelled.</exception>
    public static Task<T> ExecuteAsync<T>(
        Func<CancellationToken, Task<T>> operation,
        RetryOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operation);
        var pipeline = (options ?? s_defaultOptions).GetBuilt(nameof(options)).General;
        return ExecuteCoreAsync(pipeline, operation, cancellationToken);
    }

    /// <summary>Runs <paramref name="operation"/>, retrying it as <paramref name="options"/> say.</summary>
    /// <param name="operation">The operation; it receives the caller's token.</param>
    /// <param name="options">The retry options; <see langword="null"/> means the defaults of <see cref="RetryOptions"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>A task that completes when an attempt succeeds.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="operation"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A value of <paramref name="options"/> is out of range; the message names each property
    /// (<c>RetryOptions.MaxRetries must be zero or more (was -1).</c>).</exception>
    /// <exception cref="OperationCanceledException">The caller's token was cancelled.</exception>
    public static Task ExecuteAsync(
        Func<CancellationToken, Task> operation,
        RetryOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operation);
        var pipeline = (options ?? s_defaultOptions).GetBuilt(nameof(options)).General;
        return ExecuteCoreAsync(pipeline, operation, cancellationToken);
    }

    private static async Task<T> ExecuteCoreAsync<T>(ResiliencePipeline pipeline, Func<CancellationToken, Task<T>> operation, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        try
        {
            return await pipeline.ExecuteAsync(
                static (ctx, op) => new ValueTask<T>(op(ctx.CancellationToken)),
                context,
                operation).ConfigureAwait(false);
        }
        catch (Exception ex) when (RecordAttempts(ex, context))
        {
            // Never entered: the filter only annotates, so the exception propagates untouched.
            throw;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private static async Task ExecuteCoreAsync(ResiliencePipeline pipeline, Func<CancellationToken, Task> operation, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        try
        {
            await pipeline.ExecuteAsync(
                static (ctx, op) => new ValueTask(op(ctx.CancellationToken)),
                context,
                operation).ConfigureAwait(false);
        }
        catch (Exception ex) when (RecordAttempts(ex, context))
        {
            // Never entered: the filter only annotates, so the exception propagates untouched.
            throw;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private static bool RecordAttempts(Exception exception, ResilienceContext context)
    {
        exception.Data[AttemptCountDataKey] = GetAttemptCount(context);
        return false;
    }
}
