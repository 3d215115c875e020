using AsyncPatterns.Internal;
using AsyncPatterns.Timeouts.Internal;
using Microsoft.Extensions.Logging;

namespace AsyncPatterns.Timeouts;

/// <summary>
/// Runs an operation under a timeout measured on an injectable <see cref="TimeProvider"/>.
/// </summary>
/// <remarks>
/// <para>
/// <b>Cooperative</b> (<see cref="RunAsync{T}(Func{CancellationToken, Task{T}}, TimeSpan, TimeProvider?, CancellationToken)"/>,
/// <see cref="TryRunAsync{T}"/>): the operation receives a token that is cancelled when the timeout fires or when the
/// caller's token is cancelled, and the method always awaits the operation to its end. An operation that ignores its
/// token therefore still runs to completion and its own outcome is reported: the timeout only ends operations that
/// observe their token. For operations that cannot be cancelled, use
/// <see cref="RunDetachedAsync{T}(Func{CancellationToken, Task{T}}, TimeSpan, ILogger?, TimeProvider?, CancellationToken)"/>.
/// </para>
/// <para>
/// <b>Who wins.</b> When the operation ends with an <see cref="OperationCanceledException"/>: if the caller's token is
/// cancelled at that moment, an <see cref="OperationCanceledException"/> carrying the caller's token is thrown, even
/// if the timeout fired too (the caller's cancellation always wins); otherwise, if the timeout fired, an
/// <see cref="OperationTimeoutException"/> is thrown with the operation's exception as its inner exception.
/// Any other exception of the operation propagates unchanged, and a value it returns after the timeout fired is
/// still returned by <c>RunAsync</c>; <see cref="TryRunAsync{T}"/> reports it as timed out and discards it.
/// </para>
/// <para>
/// <b>Timeout values.</b> <see cref="Timeout.InfiniteTimeSpan"/> disables the timeout (the operation then receives the
/// caller's token). Zero, other negative values and values longer than a timer can wait (<c>uint.MaxValue - 1</c>
/// milliseconds, about 49.7 days) throw <see cref="ArgumentOutOfRangeException"/> naming <c>timeout</c>, at the call.
/// An operation delegate that returns a <see langword="null"/> task ends the returned task with an
/// <see cref="InvalidOperationException"/> saying so.
/// </para>
/// <para>All members are thread-safe and may be called concurrently.</para>
/// </remarks>
public static class OperationTimeout
{
    /// <summary>Runs <paramref name="operation"/> and cancels its token when <paramref name="timeout"/> elapses (cooperative).</summary>
    /// <typeparam name="T">The type of the operation's value.</typeparam>
    /// <param name="operation">The operation; it receives a token cancelled at the timeout or when <paramref name="cancellationToken"/> is cancelled.</param>
    /// <param name="timeout">The timeout; <see cref="Timeout.InfiniteTimeSpan"/> disables it.</param>
    /// <param name="timeProvider">The clock that measures the timeout; <see langword="null"/> means <see cref="TimeProvider.System"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>The operation's value.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="operation"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is zero, negative (other than <see cref="Timeout.InfiniteTimeSpan"/>) or longer than a timer can wait (about 49.7 days).</exception>
    /// <exception cref="InvalidOperationException">The operation delegate returned a <see langword="null"/> task (thrown by the returned task).</exception>
    /// <exception cref="OperationTimeoutException">The timeout fired and the operation ended by cancellation.</exception>
    /// <exception cref="OperationCanceledException">The caller's token was cancelled; the exception carries that token.</exception>
    public static Task<T> RunAsync<T>(
        Func<CancellationToken, Task<T>> operation,
        TimeSpan timeout,
        TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ValidateTimeout(timeout);
        return TimeoutRunner.RunAsync(operation, timeout, timeProvider ?? TimeProvider.System, cancellationToken);
    }

    /// <summary>Runs <paramref name="operation"/> and cancels its token when <paramref name="timeout"/> elapses (cooperative).</summary>
    /// <param name="operation">The operation; it receives a token cancelled at the timeout or when <paramref name="cancellationToken"/> is cancelled.</param>
    /// <param name="timeout">The timeout; <see cref="Timeout.InfiniteTimeSpan"/> disables it.</param>
    /// <param name="timeProvider">The clock that measures the timeout; <see langword="null"/> means <see cref="TimeProvider.System"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>A task that completes when the operation does.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="operation"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is zero, negative (other than <see cref="Timeout.InfiniteTimeSpan"/>) or longer than a timer can wait (about 49.7 days).</exception>
    /// <exception cref="InvalidOperationException">The operation delegate returned a <see langword="null"/> task (thrown by the returned task).</exception>
    /// <exception cref="OperationTimeoutException">The timeout fired and the operation ended by cancellation.</exception>
    /// <exception cref="OperationCanceledException">The caller's token was cancelled; the exception carries that token.</exception>
    public static Task RunAsync(
        Func<CancellationToken, Task> operation,
        TimeSpan timeout,
        TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ValidateTimeout(timeout);
        return TimeoutRunner.RunAsync(operation, timeout, timeProvider ?? TimeProvider.System, cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="operation"/> like <see cref="RunAsync{T}(Func{CancellationToken, Task{T}}, TimeSpan, TimeProvider?, CancellationToken)"/>,
    /// but reports a timeout as a <see cref="TimeoutResult{T}"/> instead of throwing: for batch code that prefers values to exceptions.
    /// </summary>
    /// <remarks>
    /// The result is <see cref="TimeoutResult{T}.Completed"/> only for a value produced before the timeout fired. An
    /// operation that ignores its token is still awaited; a value it returns after the timeout fired is discarded and
    /// the result is <see cref="TimeoutResult{T}.TimedOut"/>, with <see cref="TimeoutResult{T}.Elapsed"/> measured until
    /// the operation ended. A value returned after the caller's own cancellation (not the timeout) is still a completed result.
    /// </remarks>
    /// <typeparam name="T">The type of the operation's value.</typeparam>
    /// <param name="operation">The operation; it receives a token cancelled at the timeout or when <paramref name="cancellationToken"/> is cancelled.</param>
    /// <param name="timeout">The timeout; <see cref="Timeout.InfiniteTimeSpan"/> disables it.</param>
    /// <param name="timeProvider">The clock that measures the timeout; <see langword="null"/> means <see cref="TimeProvider.System"/>.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    /// <returns>A completed result with the value, or a timed-out result.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="operation"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is zero, negative (other than <see cref="Timeout.InfiniteTimeSpan"/>) or longer than a timer can wait (about 49.7 days).</exception>
    /// <exception cref="InvalidOperationException">The operation delegate returned a <see langword="null"/> task (thrown by the returned task).</exception>
    /// <exception cref="OperationCanceledException">The caller's token was cancelled (it still wins over the timeout); the exception carries that token.</exception>
    public static Task<TimeoutResult<T>> TryRunAsync<T>(
        Func<CancellationToken, Task<T>> operation,
        TimeSpan timeout,
        TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ValidateTimeout(timeout);
        return TimeoutRunner.TryRunAsync(operation, timeout, timeProvider ?? TimeProvider.System, cancellationToken);
    }

    /// <summary>
    /// Waits for <paramref name="operation"/> at most <paramref name="timeout"/>, then stops waiting even if the operation
    /// ignores cancellation: the explicit opt-in for operations that cannot be cancelled.
    /// </summary>
    /// <remarks>
    /// At the deadline (or when <paramref name="cancellationToken"/> is cancelled) the operation's token is cancelled as a
    /// courtesy and this method stops waiting at once. The operation keeps running detached ("orphaned"); it is still
    /// observed: if it later fails, the exception is logged to <paramref name="logger"/> at <see cref="LogLevel.Warning"/>
    /// and never becomes an unobserved task exception, even when the logger itself throws (its failure is ignored).
/// Its late value, if any, is discarded. An operation that throws synchronously is treated as one that fails at once:
/// its <see cref="OperationCanceledException"/> is translated to the caller's token or the timeout exactly as an
/// asynchronous one is.
    /// </remarks>
    /// <typeparam name="T">The type of the operation's value.</typeparam>
    /// <param name="operation">The operation; it receives a token cancelled at the timeout or when <paramref name="cancellationToken"/> is cancelled.</param>
    /// <param name="timeout">The timeout; <see cref="Timeout.InfiniteTimeSpan"/> disables it.</param>
    /// <param name="logger">Where the orphaned operation's later failure is logged; <see langword="null"/> observes it without logging.</param>
    /// <param name="timeProvider">The clock that measures the timeout; <see langword="null"/> means <see cref="TimeProvider.System"/>.</param>
    /// <param name="cancellationToken">The caller's token; cancelling it also stops the wait at once.</param>
    /// <returns>The operation's value, when it completed in time.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="operation"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is zero, negative (other than <see cref="Timeout.InfiniteTimeSpan"/>) or longer than a timer can wait (about 49.7 days).</exception>
    /// <exception cref="InvalidOperationException">The operation delegate returned a <see langword="null"/> task (thrown by the returned task).</exception>
    /// <exception cref="OperationTimeoutException">The timeout fired before the operation completed.</exception>
    /// <exception cref="OperationCanceledException">The caller's token was cancelled; the exception carries that token.</exception>
    public static Task<T> RunDetachedAsync<T>(
        Func<CancellationToken, Task<T>> operation,
        TimeSpan timeout,
        ILogger? logger = null,
        TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ValidateTimeout(timeout);
        return TimeoutRunner.RunDetachedAsync(operation, timeout, logger, timeProvider ?? TimeProvider.System, cancellationToken);
    }

    /// <summary>
    /// Waits for <paramref name="operation"/> at most <paramref name="timeout"/>, then stops waiting even if the operation
    /// ignores cancellation. See <see cref="RunDetachedAsync{T}(Func{CancellationToken, Task{T}}, TimeSpan, ILogger?, TimeProvider?, CancellationToken)"/>.
    /// </summary>
    /// <param name="operation">The operation; it receives a token cancelled at the timeout or when <paramref name="cancellationToken"/> is cancelled.</param>
    /// <param name="timeout">The timeout; <see cref="Timeout.InfiniteTimeSpan"/> disables it.</param>
    /// <param name="logger">Where the orphaned operation's later failure is logged; <see langword="null"/> observes it without logging.</param>
    /// <param name="timeProvider">The clock that measures the timeout; <see langword="null"/> means <see cref="TimeProvider.System"/>.</param>
    /// <param name="cancellationToken">The caller's token; cancelling it also stops the wait at once.</param>
    /// <returns>A task that completes when the operation does, in time.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="operation"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is zero, negative (other than <see cref="Timeout.InfiniteTimeSpan"/>) or longer than a timer can wait (about 49.7 days).</exception>
    /// <exception cref="InvalidOperationException">The operation delegate returned a <see langword="null"/> task (thrown by the returned task).</exception>
    /// <exception cref="OperationTimeoutException">The timeout fired before the operation completed.</exception>
    /// <exception cref="OperationCanceledException">The caller's token was cancelled; the exception carries that token.</exception>
    public static Task RunDetachedAsync(
        Func<CancellationToken, Task> operation,
        TimeSpan timeout,
        ILogger? logger = null,
        TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ValidateTimeout(timeout);
        return TimeoutRunner.RunDetachedAsync(operation, timeout, logger, timeProvider ?? TimeProvider.System, cancellationToken);
    }

    private static void ValidateTimeout(TimeSpan timeout)
    {
        if (timeout != Timeout.InfiniteTimeSpan && (timeout <= TimeSpan.Zero || timeout > TimerLimits.MaxDueTime))
        {
            throw new ArgumentOutOfRangeException(
                nameof(timeout),
                timeout,
                $"The timeout must be positive and at most {TimerLimits.MaxDueTime} (the longest a timer can wait), or Timeout.InfiniteTimeSpan.");
        }
    }
}
