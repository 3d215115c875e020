using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.TestSupport;

/// <summary>
/// Helpers that drive a <see cref="FakeTimeProvider"/> step by step. Every loop is bounded, so a bug fails the test
/// with a clear message instead of hanging it.
/// </summary>
public static class FakeClock
{
    /// <summary>The default bound on how many steps an <c>Advance*</c> helper takes before it fails.</summary>
    public const int DefaultMaxSteps = 10_000;

    /// <summary>The real-time bound of <see cref="WaitUntilAsync"/>: far above any healthy wait, it only catches hangs.</summary>
    public static readonly TimeSpan HangTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Creates a fake clock at a fixed, readable start time (2030-01-01T00:00:00Z).</summary>
    public static FakeTimeProvider Create() => new(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));

    /// <summary>
    /// Lets work queued to the thread pool (continuations of tasks completed by a timer) run, so that what an
    /// <see cref="FakeTimeProvider.Advance"/> set in motion has happened before the test looks.
    /// </summary>
    public static async Task SettleAsync()
    {
        for (var i = 0; i < 4; i++)
        {
            await Task.Yield();
            await Task.Run(static () => { });
            if (ThreadPool.PendingWorkItemCount == 0)
            {
                await Task.Yield();
                return;
            }
        }
    }

    /// <summary>Advances the clock by <paramref name="step"/> and lets the continuations it released run.</summary>
    public static async Task AdvanceAsync(this FakeTimeProvider time, TimeSpan step)
    {
        ArgumentNullException.ThrowIfNull(time);
        time.Advance(step);
        await SettleAsync();
    }

    /// <summary>
    /// Advances the clock by <paramref name="step"/> at a time until <paramref name="condition"/> holds,
    /// checking it before the first step. Fails after <paramref name="maxSteps"/> steps.
    /// </summary>
    /// <returns>How much fake time was advanced.</returns>
    public static async Task<TimeSpan> AdvanceUntilAsync(
        this FakeTimeProvider time, Func<bool> condition, TimeSpan step, int maxSteps = DefaultMaxSteps)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(condition);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(step, TimeSpan.Zero);

        await SettleAsync();
        for (var i = 0; i < maxSteps; i++)
        {
            if (condition())
            {
                return step * i;
            }

            await time.AdvanceAsync(step);
        }

        if (condition())
        {
            return step * maxSteps;
        }

        throw new TimeoutException($"The condition did not hold after {maxSteps} steps of {step} of fake time.");
    }

    /// <summary>Advances the clock by <paramref name="step"/> at a time until <paramref name="task"/> completes, then awaits it.</summary>
    public static async Task AdvanceUntilCompletedAsync(this FakeTimeProvider time, Task task, TimeSpan step, int maxSteps = DefaultMaxSteps)
    {
        ArgumentNullException.ThrowIfNull(task);
        await time.AdvanceUntilAsync(() => task.IsCompleted, step, maxSteps);
        await task;
    }

    /// <summary>Advances the clock by <paramref name="step"/> at a time until <paramref name="task"/> completes, then returns its result.</summary>
    public static async Task<T> AdvanceUntilCompletedAsync<T>(this FakeTimeProvider time, Task<T> task, TimeSpan step, int maxSteps = DefaultMaxSteps)
    {
        ArgumentNullException.ThrowIfNull(task);
        await time.AdvanceUntilAsync(() => task.IsCompleted, step, maxSteps);
        return await task;
    }

    /// <summary>
    /// Waits in real time, without touching any fake clock, until <paramref name="condition"/> holds: for work that
    /// runs on other threads (a server, the thread pool). Fails after <paramref name="timeout"/> (default <see cref="HangTimeout"/>).
    /// </summary>
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var limit = timeout ?? HangTimeout;
        var start = TimeProvider.System.GetTimestamp();
        var spin = new SpinWait();
        while (!condition())
        {
            if (TimeProvider.System.GetElapsedTime(start) > limit)
            {
                throw new TimeoutException($"The condition did not hold within {limit} of real time.");
            }

            cancellationToken.ThrowIfCancellationRequested();
            if (spin.NextSpinWillYield)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(1), cancellationToken);
            }
            else
            {
                spin.SpinOnce();
            }
        }
    }
}
