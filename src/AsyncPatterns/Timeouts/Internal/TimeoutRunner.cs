using System.Diagnostics.Metrics;
using AsyncPatterns.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AsyncPatterns.Timeouts.Internal;

/// <summary>The implementation behind <see cref="OperationTimeout"/>; arguments are validated by the caller.</summary>
internal static class TimeoutRunner
{
    private static readonly Counter<long> s_timedOut = Telemetry.Meter.CreateCounter<long>(
        "asyncpatterns.timeouts.timed_out", unit: "{operation}", description: "Operations whose timeout fired before they completed.");

    private static readonly Counter<long> s_orphanFaults = Telemetry.Meter.CreateCounter<long>(
        "asyncpatterns.timeouts.orphan_faults", unit: "{operation}", description: "Detached operations that failed after their caller stopped waiting.");

    private static readonly Action<ILogger, TimeSpan, Exception?> s_orphanFaulted = LoggerMessage.Define<TimeSpan>(
        LogLevel.Warning,
        new EventId(1, "DetachedOperationFaulted"),
        "A detached operation failed after its timeout of {Timeout} had expired or its caller had cancelled; the caller was no longer waiting.");

    public static async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> operation, TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return await Start(operation, cancellationToken).ConfigureAwait(false);
        }

        var start = timeProvider.GetTimestamp();
        using var cts = new CancellationTokenSource(timeout, timeProvider);
        using var registration = Link(cts, cancellationToken);
        try
        {
            return await Start(operation, cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested)
        {
            throw CallerCancelled(ex, cancellationToken);
        }
        catch (OperationCanceledException ex) when (cts.IsCancellationRequested)
        {
            throw TimedOut(timeout, timeProvider.GetElapsedTime(start), ex);
        }
    }

    public static async Task RunAsync(Func<CancellationToken, Task> operation, TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            await Start(operation, cancellationToken).ConfigureAwait(false);
            return;
        }

        var start = timeProvider.GetTimestamp();
        using var cts = new CancellationTokenSource(timeout, timeProvider);
        using var registration = Link(cts, cancellationToken);
        try
        {
            await Start(operation, cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested)
        {
            throw CallerCancelled(ex, cancellationToken);
        }
        catch (OperationCanceledException ex) when (cts.IsCancellationRequested)
        {
            throw TimedOut(timeout, timeProvider.GetElapsedTime(start), ex);
        }
    }

    public static async Task<TimeoutResult<T>> TryRunAsync<T>(Func<CancellationToken, Task<T>> operation, TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        var start = timeProvider.GetTimestamp();
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            var value = await Start(operation, cancellationToken).ConfigureAwait(false);
            return TimeoutResult<T>.FromValue(value, timeProvider.GetElapsedTime(start));
        }

        using var cts = new CancellationTokenSource(timeout, timeProvider);
        var timer = new TimerWatch(cancellationToken);
        using var fired = cts.Token.UnsafeRegister(static state => ((TimerWatch)state!).OnSourceCancelled(), timer);
        using var registration = Link(cts, cancellationToken);
        try
        {
            var value = await Start(operation, cts.Token).ConfigureAwait(false);

            // Completed means "before the timeout fired": a value that comes later is discarded, as the detached form does.
            return timer.Fired
                ? TimeoutResult<T>.FromTimeout(timeProvider.GetElapsedTime(start))
                : TimeoutResult<T>.FromValue(value, timeProvider.GetElapsedTime(start));
        }
        catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested)
        {
            throw CallerCancelled(ex, cancellationToken);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            s_timedOut.Add(1);
            return TimeoutResult<T>.FromTimeout(timeProvider.GetElapsedTime(start));
        }
    }

    public static Task RunDetachedAsync(Func<CancellationToken, Task> operation, TimeSpan timeout, ILogger? logger, TimeProvider timeProvider, CancellationToken cancellationToken) =>
        RunDetachedAsync(
            async ct =>
            {
                await Start(operation, ct).ConfigureAwait(false);
                return true;
            },
            timeout,
            logger,
            timeProvider,
            cancellationToken);

    public static async Task<T> RunDetachedAsync<T>(Func<CancellationToken, Task<T>> operation, TimeSpan timeout, ILogger? logger, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        var start = timeProvider.GetTimestamp();
        var cts = timeout == Timeout.InfiniteTimeSpan ? new CancellationTokenSource() : new CancellationTokenSource(timeout, timeProvider);
        var registration = Link(cts, cancellationToken);
        Task<T>? task = null;
        var abandoned = false;
        try
        {
            // A synchronous throw goes through the same translation as an asynchronous one (the caller's token, the timeout).
            task = Start(operation, cts.Token);
            return await task.WaitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested)
        {
            abandoned = task is { IsCanceled: false };
            throw CallerCancelled(ex, cancellationToken);
        }
        catch (OperationCanceledException ex) when (cts.IsCancellationRequested)
        {
            abandoned = task is { IsCanceled: false };
            throw TimedOut(timeout, timeProvider.GetElapsedTime(start), ex);
        }
        finally
        {
            if (abandoned)
            {
                Observe(task!, new Orphan(cts, registration, logger ?? NullLogger.Instance, timeout));
            }
            else
            {
                await registration.DisposeAsync().ConfigureAwait(false);
                cts.Dispose();
            }
        }
    }

    /// <summary>Calls the operation; a <see langword="null"/> task is the operation's bug, reported as such.</summary>
    private static TTask Start<TTask>(Func<CancellationToken, TTask> operation, CancellationToken token)
        where TTask : Task =>
        operation(token) ?? throw new InvalidOperationException("The operation delegate returned a null Task; it must return a task.");

    private static OperationCanceledException CallerCancelled(OperationCanceledException exception, CancellationToken cancellationToken) =>
        exception.CancellationToken == cancellationToken
            ? exception
            : new OperationCanceledException(exception.Message, exception, cancellationToken);

    private static CancellationTokenRegistration Link(CancellationTokenSource cts, CancellationToken cancellationToken) =>
        cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), cts)
            : default;

    private static OperationTimeoutException TimedOut(TimeSpan timeout, TimeSpan elapsed, Exception inner)
    {
        s_timedOut.Add(1);
        return new OperationTimeoutException(timeout, elapsed, inner);
    }

    /// <summary>Keeps watching an abandoned task: logs its failure and releases its token source when it ends.</summary>
    private static void Observe(Task task, Orphan orphan) =>
        _ = task.ContinueWith(
            static (t, state) =>
            {
                var orphan = (Orphan)state!;
                orphan.Registration.Dispose();
                orphan.Source.Dispose();
                if (t.Exception is { } aggregate)
                {
                    s_orphanFaults.Add(1);
                    var exception = aggregate.InnerExceptions.Count == 1 ? aggregate.InnerExceptions[0] : aggregate;
                    try
                    {
                        s_orphanFaulted(orphan.Logger, orphan.Timeout, exception);
                    }
                    catch (Exception)
                    {
                        // The logger is the only channel left for the orphan's fault; a logger that fails is ignored
                        // rather than turned into an unobserved task exception (the counter above still counts it).
                    }
                }
            },
            orphan,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

    /// <summary>Tells a cancellation by the timer from one forwarded from the caller's token.</summary>
    private sealed class TimerWatch(CancellationToken callerToken)
    {
        private volatile bool _fired;

        public bool Fired => _fired;

        public void OnSourceCancelled()
        {
            // The caller's token is cancelled before its callbacks (the link) run, so a cancellation that finds it
            // still uncancelled came from the timer.
            if (!callerToken.IsCancellationRequested)
            {
                _fired = true;
            }
        }
    }

    private sealed record Orphan(CancellationTokenSource Source, CancellationTokenRegistration Registration, ILogger Logger, TimeSpan Timeout);
}
