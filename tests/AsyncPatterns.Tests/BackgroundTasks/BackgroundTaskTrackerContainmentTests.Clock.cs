using AsyncPatterns.BackgroundTasks;
using AsyncPatterns.BackgroundTasks.Internal;
using Microsoft.Extensions.Logging.Testing;

namespace AsyncPatterns.Tests.BackgroundTasks;

/// <summary>
/// A <see cref="TimeProvider"/> that throws. The tracker's accounting never depends on it: a task that ends while the
/// clock throws still frees its slot and has its fault logged; a call that needs the clock (<c>TryStart</c>,
/// <c>StartAsync</c>, <c>Snapshot</c>, <c>ShutdownAsync</c>) throws its exception, and a shutdown closes the tracker and
/// cancels the work first.
/// </summary>
public sealed partial class BackgroundTaskTrackerContainmentTests
{
    [Fact]
    public async Task Finish_ClockThrowsWhenATaskEnds_TheQueuedTaskRunsTheFaultIsLoggedAndDrainAsyncCompletes()
    {
        var clock = new BreakableClock();
        var logger = new FakeLogger<BackgroundTaskTracker>();
        var tracker = new BackgroundTaskTracker(OneSlotOneQueued(), logger, clock);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var nextRan = StartFaultAndQueuedAsync(tracker, gate.Task);

        clock.Broken = true;
        gate.SetResult();

        await nextRan.WaitAsync(FakeClock.HangTimeout, Ct);
        await tracker.DrainAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);
        tracker.InFlight.Should().Be(0);
        var records = logger.Collector.GetSnapshot();
        records.Should().ContainSingle(r => r.Id.Id == BackgroundTaskLog.TaskFaultedId)
            .Which.Exception.Should().BeOfType<InvalidOperationException>().Which.Message.Should().Be("boom");
        records.Where(r => r.Id.Id == BackgroundTaskLog.ClockFailedId).Should().HaveCount(2, "both ends were timed on the broken clock")
            .And.OnlyContain(r => r.Exception is BreakableClock.ClockException);
    }

    [Fact]
    public async Task StartAsync_ClockThrowsWhenAWaiterIsAdmitted_TheWaiterIsAdmittedAndItsWorkRuns()
    {
        var clock = new BreakableClock();
        var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = 1, MaxQueued = 0 }, timeProvider: clock);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tracker.TryStart(_ => gate.Task, "first").Should().BeTrue();
        var waiting = tracker.StartAsync(_ => { ran.SetResult(); return Task.CompletedTask; }, "waiter", Ct).AsTask();
        waiting.IsCompleted.Should().BeFalse();

        clock.Broken = true;
        gate.SetResult();

        await waiting.WaitAsync(FakeClock.HangTimeout, Ct);
        await ran.Task.WaitAsync(FakeClock.HangTimeout, Ct);
        await tracker.DrainAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);
        tracker.InFlight.Should().Be(0);
    }

    [Fact]
    public async Task TryStartAndStartAsync_ClockThrows_ThrowAtTheCallAndAcceptNothing()
    {
        var clock = new BreakableClock();
        var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = 1, MaxQueued = 0 }, timeProvider: clock);
        var ran = 0;
        Func<CancellationToken, Task> work = _ => { Interlocked.Increment(ref ran); return Task.CompletedTask; };
        clock.Broken = true;

        tracker.Invoking(t => t.TryStart(work)).Should().Throw<BreakableClock.ClockException>();
        Func<Task> start = () => tracker.StartAsync(work, cancellationToken: Ct).AsTask();
        await start.Should().ThrowAsync<BreakableClock.ClockException>();
        tracker.Invoking(t => t.Snapshot()).Should().Throw<BreakableClock.ClockException>();

        clock.Broken = false;
        tracker.InFlight.Should().Be(0);
        tracker.TryStart(work).Should().BeTrue("nothing was accepted while the clock threw, so the one slot is free");
        await tracker.DrainAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);
        Volatile.Read(ref ran).Should().Be(1);
    }

    [Fact]
    public async Task ShutdownAsync_ClockThrows_ClosesTheTrackerAndCancelsTheWorkThenThrowsTheClocksError()
    {
        var clock = new BreakableClock();
        var logger = new FakeLogger<BackgroundTaskTracker>();
        var tracker = new BackgroundTaskTracker(OneSlotOneQueued(), logger, clock);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tracker.TryStart(
            async token =>
            {
                started.SetResult();
                try
                {
                    await Task.Delay(Timeout.InfiniteTimeSpan, token);
                }
                catch (OperationCanceledException)
                {
                    cancelled.SetResult();
                    throw new IOException("flush failed");
                }
            },
            "flusher").Should().BeTrue();
        await started.Task.WaitAsync(FakeClock.HangTimeout, Ct);
        clock.Broken = true;

        await tracker.Awaiting(t => t.ShutdownAsync(TimeSpan.FromMinutes(1), Ct)).Should().ThrowAsync<BreakableClock.ClockException>();

        await cancelled.Task.WaitAsync(FakeClock.HangTimeout, Ct);
        clock.Broken = false;
        tracker.TryStart(_ => Task.CompletedTask).Should().BeFalse("the shutdown closed the tracker before it failed");
        // DrainAsync, not InFlight: the fault is logged just after the slot is freed, and the drain waits for that too.
        await tracker.DrainAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);
        logger.Collector.GetSnapshot().Should().Contain(r => r.Id.Id == BackgroundTaskLog.TaskFaultedId, "a task that ends later is still logged");
    }

    [Fact]
    public async Task ShutdownAsync_ClockCannotCreateTheGraceTimer_ThrowsTheClocksErrorInsteadOfHanging()
    {
        var clock = new BreakableClock();
        var tracker = new BackgroundTaskTracker(OneSlotOneQueued(), timeProvider: clock);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tracker.TryStart(_ => { started.SetResult(); return release.Task; }, "ignores-its-token").Should().BeTrue();
        await started.Task.WaitAsync(FakeClock.HangTimeout, Ct);
        clock.TimersBroken = true;

        await tracker.Awaiting(t => t.ShutdownAsync(TimeSpan.FromMinutes(1), Ct).WaitAsync(FakeClock.HangTimeout, Ct))
            .Should().ThrowAsync<BreakableClock.ClockException>();

        release.SetResult();
        await FakeClock.WaitUntilAsync(() => tracker.InFlight == 0, cancellationToken: Ct);
    }

    [Fact]
    public async Task Dispose_ShutdownFailsOnABrokenClock_RaisesNoUnobservedTaskException()
    {
        var unobserved = 0;
        EventHandler<UnobservedTaskExceptionEventArgs> handler = (_, e) =>
        {
            if (e.Exception.InnerExceptions.Any(x => x is BreakableClock.ClockException))
            {
                Interlocked.Increment(ref unobserved);
            }
        };
        TaskScheduler.UnobservedTaskException += handler;
        try
        {
            DisposeOnBrokenClock();
            for (var i = 0; i < 3; i++)
            {
                await FakeClock.SettleAsync();
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }

            Volatile.Read(ref unobserved).Should().Be(0);
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= handler;
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void DisposeOnBrokenClock()
    {
        var tracker = new BackgroundTaskTracker(timeProvider: new BreakableClock { Broken = true });
        tracker.Dispose();
        tracker.TryStart(_ => Task.CompletedTask).Should().BeFalse();
    }

    /// <summary>The system clock, whose timestamps (and so elapsed times) or timers throw while broken.</summary>
    internal sealed class BreakableClock : TimeProvider
    {
        private volatile bool _broken;
        private volatile bool _timersBroken;

        public bool Broken
        {
            get => _broken;
            set => _broken = value;
        }

        public bool TimersBroken
        {
            get => _timersBroken;
            set => _timersBroken = value;
        }

        public override long GetTimestamp() => _broken ? throw new ClockException() : System.GetTimestamp();

        public override DateTimeOffset GetUtcNow() => _broken ? throw new ClockException() : System.GetUtcNow();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            _broken || _timersBroken ? throw new ClockException() : System.CreateTimer(callback, state, dueTime, period);

        internal sealed class ClockException() : Exception("the clock failed");
    }
}
