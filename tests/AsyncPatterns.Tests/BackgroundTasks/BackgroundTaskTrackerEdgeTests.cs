using System.Runtime.CompilerServices;
using AsyncPatterns.BackgroundTasks;
using AsyncPatterns.BackgroundTasks.Internal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.Tests.BackgroundTasks;

/// <summary>
/// The edges of the tracker: how the grace period is counted, the bounds of its argument, the order of the abandoned
/// tasks, waiters and cancelled callers, the execution context, and what the hosted service logs.
/// </summary>
public sealed class BackgroundTaskTrackerEdgeTests
{
    private static readonly AsyncLocal<string?> s_ambient = new();

    private readonly FakeTimeProvider _time = FakeClock.Create();
    private readonly DateTimeOffset _start;

    public BackgroundTaskTrackerEdgeTests()
    {
        _start = _time.GetUtcNow();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // A zero default grace: disposing a tracker at the end of a failed test never waits on the fake clock.
    private BackgroundTaskTracker Create(int maxInFlight = 16, int maxQueued = 16, FakeLogger<BackgroundTaskTracker>? logger = null) =>
        new(new BackgroundTaskTrackerOptions { MaxInFlight = maxInFlight, MaxQueued = maxQueued, DefaultGrace = TimeSpan.Zero }, logger, _time);

    /// <summary>Starts work that ignores its token until <paramref name="gate"/> completes; its token's callback moves the clock by <paramref name="callbackTakes"/>.</summary>
    private async Task StartStubbornAsync(BackgroundTaskTracker tracker, Task gate, TimeSpan callbackTakes, string name = "stubborn")
    {
        var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tracker.TryStart(
            async token =>
            {
                using var registration = token.Register(() => _time.Advance(callbackTakes));
                registered.SetResult();
                await gate;
            },
            name).Should().BeTrue();
        await registered.Task.WaitAsync(FakeClock.HangTimeout, Ct);
    }

    [Fact]
    public async Task ShutdownAsync_SlowCancellationCallbacks_CountAgainstTheGracePeriod()
    {
        var time = new TimerCountingTimeProvider();
        var start = time.GetUtcNow();
        await using var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { DefaultGrace = TimeSpan.Zero }, timeProvider: time);
        using var gate = new Gate();
        var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tracker.TryStart(
            async token =>
            {
                using var registration = token.Register(() => time.Advance(TimeSpan.FromSeconds(3)));
                registered.SetResult();
                await gate.Task;
            },
            "stubborn").Should().BeTrue();
        await registered.Task.WaitAsync(FakeClock.HangTimeout, Ct);

        var shutdown = tracker.ShutdownAsync(TimeSpan.FromSeconds(5), Ct);

        // The grace timer is armed after the callbacks ran: 2 s are left of the 5.
        await FakeClock.WaitUntilAsync(() => time.TimersCreated == 1, cancellationToken: Ct);
        (time.GetUtcNow() - start).Should().Be(TimeSpan.FromSeconds(3));
        time.Advance(TimeSpan.FromSeconds(2) - TimeSpan.FromTicks(1));
        await FakeClock.SettleAsync();
        shutdown.IsCompleted.Should().BeFalse();
        time.Advance(TimeSpan.FromTicks(1));

        var report = await shutdown.WaitAsync(FakeClock.HangTimeout, Ct);
        report.Abandoned.Should().Equal("stubborn");
        report.Elapsed.Should().Be(TimeSpan.FromSeconds(5), "the deadline counts from the start of the shutdown");
    }

    [Fact]
    public async Task ShutdownAsync_CallbacksTakeLongerThanTheGrace_ReportsAtOnce()
    {
        await using var tracker = Create();
        using var gate = new Gate();
        await StartStubbornAsync(tracker, gate.Task, TimeSpan.FromSeconds(3));

        var report = await tracker.ShutdownAsync(TimeSpan.FromSeconds(2), Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        report.Abandoned.Should().Equal("stubborn");
        report.Elapsed.Should().Be(TimeSpan.FromSeconds(3));
        gate.Open();
    }

    [Fact]
    public async Task ShutdownAsync_InfiniteGraceAndSlowCallbacks_WaitsUntilTheWorkEnds()
    {
        await using var tracker = Create();
        using var gate = new Gate();
        await StartStubbornAsync(tracker, gate.Task, TimeSpan.FromSeconds(3));

        var shutdown = tracker.ShutdownAsync(Timeout.InfiniteTimeSpan, Ct);
        await FakeClock.WaitUntilAsync(() => _time.GetUtcNow() - _start >= TimeSpan.FromSeconds(3), cancellationToken: Ct);
        _time.Advance(TimeSpan.FromDays(1));
        await FakeClock.SettleAsync();
        shutdown.IsCompleted.Should().BeFalse();
        gate.Open();

        var report = await shutdown.WaitAsync(FakeClock.HangTimeout, Ct);
        report.Abandoned.Should().BeEmpty();
        report.Completed.Should().Be(1);
    }

    [Fact]
    public async Task ShutdownAsync_LongestTimerGrace_IsAcceptedAndOneMillisecondMoreIsNot()
    {
        await using var tracker = Create();
        var longest = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

        Record.Exception(() => { _ = tracker.ShutdownAsync(longest + TimeSpan.FromMilliseconds(1), Ct); })
            .Should().BeOfType<ArgumentOutOfRangeException>("it throws before returning a task").Which.ParamName.Should().Be("grace");

        var report = await tracker.ShutdownAsync(longest, Ct).WaitAsync(FakeClock.HangTimeout, Ct);
        report.IsClean.Should().BeTrue();
    }

    [Fact]
    public async Task ShutdownAsync_SeveralAbandoned_ListsThemInStartOrder()
    {
        await using var tracker = Create();
        using var gate = new Gate();
        foreach (var name in new[] { "first", "second", "third" })
        {
            await StartStubbornAsync(tracker, gate.Task, TimeSpan.Zero, name);
        }

        var report = await tracker.ShutdownAsync(TimeSpan.Zero, Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        report.Abandoned.Should().Equal("first", "second", "third");
        gate.Open();
    }

    [Fact]
    public async Task StartAsync_CancelledTokenWithRoom_DoesNotRunTheWork()
    {
        await using var tracker = Create();
        var ran = false;
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        var start = tracker.StartAsync(_ => { ran = true; return Task.CompletedTask; }, cancellationToken: cts.Token);

        start.IsCanceled.Should().BeTrue();
        await tracker.DrainAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);
        ran.Should().BeFalse();
    }

    [Fact]
    public async Task StartAsync_WaiterAdmitted_LeavesTheTrackerOpenToTryStartOnceThereIsRoom()
    {
        await using var tracker = Create(maxInFlight: 1, maxQueued: 0);
        using var first = new Gate();
        using var second = new Gate();
        tracker.TryStart(_ => first.Task, "first").Should().BeTrue();
        var waiting = tracker.StartAsync(_ => second.Task, "second", Ct).AsTask();
        waiting.IsCompleted.Should().BeFalse();

        first.Open();
        await waiting.WaitAsync(FakeClock.HangTimeout, Ct);
        second.Open();
        await FakeClock.WaitUntilAsync(() => tracker.InFlight == 0, cancellationToken: Ct);

        tracker.TryStart(_ => Task.CompletedTask, "third").Should().BeTrue("nobody is waiting any more");
    }

    [Fact]
    public async Task TryStart_Work_SeesTheAsyncLocalValuesOfTheCaller()
    {
        await using var tracker = Create();
        var seen = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        s_ambient.Value = "from the caller";

        tracker.TryStart(_ => { seen.SetResult(s_ambient.Value); return Task.CompletedTask; }).Should().BeTrue();

        (await seen.Task.WaitAsync(FakeClock.HangTimeout, Ct)).Should().Be("from the caller");
    }

    [Fact]
    public async Task TryStart_ExecutionContextFlowSuppressed_StillRunsTheWork()
    {
        await using var tracker = Create();
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        using (ExecutionContext.SuppressFlow())
        {
            tracker.TryStart(_ => { ran.SetResult(); return Task.CompletedTask; }).Should().BeTrue();
        }

        await ran.Task.WaitAsync(FakeClock.HangTimeout, Ct);
    }

    [Fact]
    public async Task ShutdownAsync_ACancellationCallbackThrows_LogsItAndStillReports()
    {
        var logger = new FakeLogger<BackgroundTaskTracker>();
        await using var tracker = Create(logger: logger);
        var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tracker.TryStart(
            async token =>
            {
                token.Register(() => throw new InvalidOperationException("callback"));
                registered.SetResult();
                await Task.Delay(Timeout.InfiniteTimeSpan, token);
            },
            "work").Should().BeTrue();
        await registered.Task.WaitAsync(FakeClock.HangTimeout, Ct);

        var report = await tracker.ShutdownAsync(TimeSpan.FromSeconds(1), Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        report.Cancelled.Should().Be(1);
        logger.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == BackgroundTaskLog.CancellationCallbackFailedId)
            .Which.Exception.Should().NotBeNull();
    }

    [Fact]
    public async Task HostStopAsync_HostTimeoutCancelledButNothingAbandoned_DoesNotSayTheHostGaveUp()
    {
        using var host = BuildHost(TimeSpan.FromSeconds(5));
        await host.StartAsync(Ct);
        using var hostTimeout = new CancellationTokenSource();
        await hostTimeout.CancelAsync();

        await host.StopAsync(hostTimeout.Token).WaitAsync(FakeClock.HangTimeout, Ct);

        host.Services.GetFakeLogCollector().GetSnapshot().Should().NotContain(r => r.Id.Id == BackgroundTaskLog.HostGaveUpId);
    }

    [Fact]
    public async Task HostStopAsync_DefaultGraceEndsBeforeTheHostTimeout_DoesNotSayTheHostGaveUp()
    {
        using var host = BuildHost(TimeSpan.Zero);
        await host.StartAsync(Ct);
        var tracker = host.Services.GetRequiredService<BackgroundTaskTracker>();
        using var gate = new Gate();
        tracker.TryStart(_ => gate.Task, "stubborn").Should().BeTrue();

        await host.StopAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        (await tracker.ShutdownAsync(TimeSpan.Zero, Ct)).Abandoned.Should().Equal("stubborn");
        host.Services.GetFakeLogCollector().GetSnapshot().Should().NotContain(r => r.Id.Id == BackgroundTaskLog.HostGaveUpId);
        gate.Open();
    }

    [Fact]
    public async Task StartAsync_CancelledWaitersAgainstAFullTracker_LeaveTheQueueAtOnce()
    {
        await using var tracker = Create(maxInFlight: 1, maxQueued: 0);
        using var gate = new Gate();
        tracker.TryStart(_ => gate.Task, "holder").Should().BeTrue();

        var works = CancelWaiters(tracker, 1_000);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        works.Count(w => w.IsAlive).Should().Be(0, "a cancelled waiter, and the work it carried, is released when it is cancelled, not when a slot frees");
        tracker.InFlight.Should().Be(1);
        tracker.TryStart(_ => Task.CompletedTask).Should().BeFalse("the one slot is still busy");
        var admitted = tracker.StartAsync(_ => Task.CompletedTask, "after", Ct).AsTask();
        admitted.IsCompleted.Should().BeFalse("the tracker is still full");
        gate.Open();
        await admitted.WaitAsync(FakeClock.HangTimeout, Ct);
    }

    [Fact]
    public async Task ShutdownAsync_TryStartFromTheShutdownsCancellationCallback_IsRefusedAndNothingQueuedRuns()
    {
        await using var tracker = Create(maxInFlight: 1, maxQueued: 4);
        var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inCallback = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var queuedRan = 0;
        tracker.TryStart(
            async token =>
            {
                using var registration = token.Register(() => inCallback.TrySetResult(tracker.TryStart(_ => Task.CompletedTask, "late")));
                registered.SetResult();
                await Task.Delay(Timeout.InfiniteTimeSpan, token);
            },
            "holder").Should().BeTrue();
        await registered.Task.WaitAsync(FakeClock.HangTimeout, Ct);
        tracker.TryStart(_ => { Interlocked.Increment(ref queuedRan); return Task.CompletedTask; }, "queued").Should().BeTrue();

        var report = await tracker.ShutdownAsync(TimeSpan.FromSeconds(1), Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        (await inCallback.Task.WaitAsync(FakeClock.HangTimeout, Ct)).Should().BeFalse("the tracker closed in the step that dropped the queue");
        report.Cancelled.Should().Be(2, "the holder ended on its token and the queued task was dropped");
        report.Completed.Should().Be(0);
        tracker.TryStart(_ => Task.CompletedTask).Should().BeFalse();
        await FakeClock.WaitUntilAsync(() => tracker.InFlight == 0, cancellationToken: Ct);
        Volatile.Read(ref queuedRan).Should().Be(0, "dropped work never runs");
    }

    /// <summary>Queues <paramref name="count"/> StartAsync waiters and cancels each; returns weak references to their work.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static List<WeakReference> CancelWaiters(BackgroundTaskTracker tracker, int count)
    {
        var works = new List<WeakReference>(count);
        for (var i = 0; i < count; i++)
        {
            var id = i;
            Func<CancellationToken, Task> work = _ => Task.FromResult(id);
            works.Add(new WeakReference(work));
            using var wait = new CancellationTokenSource();
            var pending = tracker.StartAsync(work, "waiter", wait.Token);
            pending.IsCompleted.Should().BeFalse("the tracker is full");
            wait.Cancel();
            pending.IsCanceled.Should().BeTrue();
        }

        return works;
    }

    /// <summary>A gate for stubborn work, opened when disposed so that a failing test never leaves a tracker waiting on the fake clock.</summary>
    private sealed class Gate : IDisposable
    {
        private readonly TaskCompletionSource _source = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Task => _source.Task;

        public void Open() => _source.TrySetResult();

        public void Dispose() => Open();
    }

    /// <summary>A fake clock that counts the timers created on it (a timer counts once it exists with its due time).</summary>
    private sealed class TimerCountingTimeProvider : FakeTimeProvider
    {
        private int _timersCreated;

        public TimerCountingTimeProvider()
            : base(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero))
        {
        }

        public int TimersCreated => Volatile.Read(ref _timersCreated);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = base.CreateTimer(callback, state, dueTime, period);
            Interlocked.Increment(ref _timersCreated);
            return timer;
        }
    }

    private IHost BuildHost(TimeSpan defaultGrace)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddFakeLogging();
        builder.Services.AddSingleton<TimeProvider>(_time);
        builder.Services.AddBackgroundTaskTracker(o => o.DefaultGrace = defaultGrace);
        return builder.Build();
    }
}
