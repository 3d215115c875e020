using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using AsyncPatterns.BackgroundTasks;
using AsyncPatterns.BackgroundTasks.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.Tests.BackgroundTasks;

public sealed class BackgroundTaskTrackerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Ctor_LogAndStopHostWithoutHost_ThrowsNamingOptions()
    {
        var options = new BackgroundTaskTrackerOptions { FaultBehavior = BackgroundTaskFaultBehavior.LogAndStopHost };

        var act = () => new BackgroundTaskTracker(options);

        act.Should().Throw<ArgumentException>().WithParameterName("options");
    }

    [Fact]
    public async Task StartAsync_NullWork_ThrowsSynchronously()
    {
        await using var tracker = new BackgroundTaskTracker();

        Action act = () => _ = tracker.StartAsync(null!, cancellationToken: Ct).AsTask();

        act.Should().Throw<ArgumentNullException>().WithParameterName("work");
        tracker.InFlight.Should().Be(0);
    }

    [Fact]
    public void TryStart_NullWork_Throws()
    {
        var tracker = new BackgroundTaskTracker();

        var act = () => tracker.TryStart(null!);

        act.Should().Throw<ArgumentNullException>().WithParameterName("work");
    }

    [Fact]
    public async Task TryStart_FromSingleThreadedContext_RunsWorkOnThreadPoolNotInline()
    {
        await using var tracker = new BackgroundTaskTracker();
        var ran = new TaskCompletionSource<(bool PoolThread, SynchronizationContext? Context, int ThreadId)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var callerThread = 0;

        await SingleThreadedContext.RunAsync(
            async () =>
            {
                callerThread = Environment.CurrentManagedThreadId;
                tracker.TryStart(_ =>
                {
                    ran.SetResult((Thread.CurrentThread.IsThreadPoolThread, SynchronizationContext.Current, Environment.CurrentManagedThreadId));
                    return Task.CompletedTask;
                }).Should().BeTrue();
                await ran.Task.WaitAsync(FakeClock.HangTimeout, Ct);
            },
            FakeClock.HangTimeout);

        var (poolThread, context, threadId) = await ran.Task;
        poolThread.Should().BeTrue();
        context.Should().BeNull();
        threadId.Should().NotBe(callerThread);
    }

    [Fact]
    public async Task TryStart_FinishedTask_StateIsCollectableAndInFlightReturnsToZero()
    {
        var tracker = new BackgroundTaskTracker();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var weak = StartTaskHoldingState(tracker, done);
        await done.Task.WaitAsync(FakeClock.HangTimeout, Ct);
        await FakeClock.WaitUntilAsync(() => tracker.InFlight == 0, cancellationToken: Ct);

        // The worker thread may still be leaving the tracker's bookkeeping: collect until the state is gone (bounded).
        await FakeClock.WaitUntilAsync(
            () =>
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
                return !weak.IsAlive;
            },
            cancellationToken: Ct);

        weak.IsAlive.Should().BeFalse();
        tracker.InFlight.Should().Be(0);
        tracker.Snapshot().Should().BeEmpty();
    }

    [Fact]
    public async Task TryStart_AtMaxInFlightPlusMaxQueued_ReturnsFalse()
    {
        await using var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = 2, MaxQueued = 1 });
        var gate = NewGate();

        tracker.TryStart(_ => gate.Task).Should().BeTrue();
        tracker.TryStart(_ => gate.Task).Should().BeTrue();
        tracker.TryStart(_ => gate.Task).Should().BeTrue();
        tracker.TryStart(_ => gate.Task).Should().BeFalse();

        tracker.InFlight.Should().Be(2);
        gate.SetResult();
        await tracker.DrainAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);
        tracker.InFlight.Should().Be(0);
    }

    [Fact]
    public async Task TryStart_QueuedWork_StartsInOrderWhenASlotFrees()
    {
        await using var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = 1, MaxQueued = 10 });
        var gate = NewGate();
        var order = new ConcurrentQueue<int>();
        tracker.TryStart(_ => gate.Task, "first").Should().BeTrue();
        for (var i = 0; i < 10; i++)
        {
            var n = i;
            tracker.TryStart(_ =>
            {
                order.Enqueue(n);
                return Task.CompletedTask;
            }).Should().BeTrue();
        }

        await FakeClock.SettleAsync();
        order.Should().BeEmpty("the only slot is held by the first task");
        tracker.Snapshot().Select(t => t.Name).Should().Equal("first");

        gate.SetResult();
        await tracker.DrainAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        order.Should().Equal(Enumerable.Range(0, 10));
    }

    [Fact]
    public async Task TryStart_AfterDrainAsync_ReturnsFalseAndStartAsyncThrows()
    {
        var tracker = new BackgroundTaskTracker();
        await tracker.DrainAsync(Ct);

        tracker.TryStart(_ => Task.CompletedTask).Should().BeFalse();
        var act = async () => await tracker.StartAsync(_ => Task.CompletedTask, cancellationToken: Ct);
        await act.Should().ThrowAsync<InvalidOperationException>();
    }

    [Fact]
    public async Task StartAsync_WhenFull_WaitsUntilASlotFrees()
    {
        await using var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = 1, MaxQueued = 0 });
        var gate = NewGate();
        var secondRan = NewGate();
        await tracker.StartAsync(_ => gate.Task, "holder", Ct);

        var start = tracker.StartAsync(
            _ =>
            {
                secondRan.SetResult();
                return Task.CompletedTask;
            },
            "second",
            Ct).AsTask();
        await FakeClock.SettleAsync();

        start.IsCompleted.Should().BeFalse();
        tracker.TryStart(_ => Task.CompletedTask).Should().BeFalse("a caller is already waiting for the slot");
        gate.SetResult();
        await start.WaitAsync(FakeClock.HangTimeout, Ct);
        await secondRan.Task.WaitAsync(FakeClock.HangTimeout, Ct);
    }

    [Fact]
    public async Task StartAsync_WhenFullAndTokenCancelled_ThrowsWithTheCallersTokenAndNeverRunsTheWork()
    {
        await using var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = 1, MaxQueued = 0 });
        var gate = NewGate();
        var ran = false;
        tracker.TryStart(_ => gate.Task).Should().BeTrue();
        using var cts = new CancellationTokenSource();

        var start = tracker.StartAsync(
            _ =>
            {
                ran = true;
                return Task.CompletedTask;
            },
            cancellationToken: cts.Token).AsTask();
        await FakeClock.SettleAsync();
        start.IsCompleted.Should().BeFalse();
        await cts.CancelAsync();

        var ex = await start.Invoking(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>();
        ex.Which.CancellationToken.Should().Be(cts.Token);
        gate.SetResult();
        await tracker.DrainAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);
        ran.Should().BeFalse();
    }

    [Fact]
    public async Task StartAsync_AfterACancelledWaiter_TryStartAcceptsWorkAgain()
    {
        await using var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = 1, MaxQueued = 0 });
        var gate = NewGate();
        tracker.TryStart(_ => gate.Task).Should().BeTrue();
        using var cts = new CancellationTokenSource();
        var start = tracker.StartAsync(_ => Task.CompletedTask, cancellationToken: cts.Token).AsTask();
        await cts.CancelAsync();
        await start.Invoking(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>();

        gate.SetResult();
        await FakeClock.WaitUntilAsync(() => tracker.InFlight == 0, cancellationToken: Ct);

        tracker.TryStart(_ => Task.CompletedTask).Should().BeTrue();
    }

    [Fact]
    public async Task StartAsync_WaitingWhenTheTrackerCloses_ThrowsInvalidOperation()
    {
        var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = 1, MaxQueued = 0 });
        var gate = NewGate();
        tracker.TryStart(_ => gate.Task).Should().BeTrue();
        var start = tracker.StartAsync(_ => Task.CompletedTask, cancellationToken: Ct).AsTask();

        var drain = tracker.DrainAsync(Ct);

        await start.Invoking(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<InvalidOperationException>();
        gate.SetResult();
        await drain.WaitAsync(FakeClock.HangTimeout, Ct);
    }

    [Fact]
    public async Task TryStart_FaultingWork_LogsEachFaultExactlyOnceWithTheTaskNameAndNoUnobservedException()
    {
        var logger = new FakeLogger<BackgroundTaskTracker>();
        var tracker = new BackgroundTaskTracker(logger: logger);
        var marker = Guid.NewGuid().ToString();
        var unobserved = new ConcurrentQueue<Exception>();
        EventHandler<UnobservedTaskExceptionEventArgs> handler = (_, e) =>
        {
            if (e.Exception.Flatten().InnerExceptions.Any(x => x.Message.Contains(marker, StringComparison.Ordinal)))
            {
                unobserved.Enqueue(e.Exception);
            }
        };
        TaskScheduler.UnobservedTaskException += handler;
        try
        {
            for (var i = 0; i < 10; i++)
            {
                var n = i;
                tracker.TryStart(
                    async _ =>
                    {
                        await Task.Yield();
                        throw new InvalidOperationException($"{marker} #{n}");
                    },
                    $"job-{n}").Should().BeTrue();
            }

            tracker.TryStart(_ => throw new InvalidOperationException($"{marker} sync"), "sync-thrower").Should().BeTrue();
            await tracker.DrainAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= handler;
        }

        var faults = logger.Collector.GetSnapshot().Where(r => r.Id.Id == BackgroundTaskLog.TaskFaultedId).ToList();
        faults.Should().HaveCount(11);
        faults.Should().OnlyContain(r => r.Level == LogLevel.Error && r.Exception != null);
        for (var i = 0; i < 10; i++)
        {
            faults.Where(r => r.Message.Contains($"'job-{i}'", StringComparison.Ordinal)).Should().ContainSingle()
                .Which.Exception!.Message.Should().Be($"{marker} #{i}");
        }

        faults.Should().ContainSingle(r => r.Message.Contains("'sync-thrower'", StringComparison.Ordinal));
        unobserved.Should().BeEmpty();
    }

    [Fact]
    public async Task DrainAsync_RunningAndQueuedWork_WaitsForAllWithoutCancelling()
    {
        await using var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = 1, MaxQueued = 1 });
        var gate = NewGate();
        var tokens = new ConcurrentQueue<CancellationToken>();
        var queuedRan = false;
        tracker.TryStart(ct =>
        {
            tokens.Enqueue(ct);
            return gate.Task;
        }).Should().BeTrue();
        tracker.TryStart(ct =>
        {
            tokens.Enqueue(ct);
            queuedRan = true;
            return Task.CompletedTask;
        }).Should().BeTrue();
        await FakeClock.WaitUntilAsync(() => !tokens.IsEmpty, cancellationToken: Ct);

        var drain = tracker.DrainAsync(Ct);
        await FakeClock.SettleAsync();

        drain.IsCompleted.Should().BeFalse();
        tokens.Should().OnlyContain(t => !t.IsCancellationRequested);
        gate.SetResult();
        await drain.WaitAsync(FakeClock.HangTimeout, Ct);
        queuedRan.Should().BeTrue("drain runs the queued work too");
        tokens.Should().HaveCount(2).And.OnlyContain(t => !t.IsCancellationRequested);
    }

    [Fact]
    public async Task DrainAsync_CallerTokenCancelled_ThrowsAndLeavesTheWorkRunning()
    {
        await using var tracker = new BackgroundTaskTracker();
        var gate = NewGate();
        CancellationToken workToken = default;
        tracker.TryStart(ct =>
        {
            workToken = ct;
            return gate.Task;
        }).Should().BeTrue();
        using var cts = new CancellationTokenSource();

        var drain = tracker.DrainAsync(cts.Token);
        await cts.CancelAsync();

        var ex = await drain.Invoking(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>();
        ex.Which.CancellationToken.Should().Be(cts.Token);
        await FakeClock.WaitUntilAsync(() => tracker.InFlight == 1, cancellationToken: Ct);
        workToken.IsCancellationRequested.Should().BeFalse();
        gate.SetResult();
    }

    [Fact]
    public async Task ShutdownAsync_MixedWork_CancelsReturnsAtGraceAndReportsEveryOutcome()
    {
        var time = FakeClock.Create();
        var logger = new FakeLogger<BackgroundTaskTracker>();
        var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = 4, MaxQueued = 2 }, logger, time);
        var stubborn = NewGate();
        var started = new CountdownEvent(4);
        Start("finishes-on-cancel", async ct =>
        {
            started.Signal();
            await WhenCancelled(ct);
        });
        Start("cooperates", async ct =>
        {
            started.Signal();
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
        });
        Start("faults-on-cancel", async ct =>
        {
            started.Signal();
            await WhenCancelled(ct);
            throw new InvalidOperationException("boom on cancel");
        });
        Start("stubborn", async _ =>
        {
            started.Signal();
            await stubborn.Task;
            throw new InvalidOperationException("late boom");
        });
        Start("queued-1", _ => Task.CompletedTask);
        Start("queued-2", _ => Task.CompletedTask);
        await FakeClock.WaitUntilAsync(() => started.IsSet, cancellationToken: Ct);

        var shutdown = tracker.ShutdownAsync(TimeSpan.FromSeconds(10), Ct);
        tracker.TryStart(_ => Task.CompletedTask).Should().BeFalse();
        await FakeClock.WaitUntilAsync(() => tracker.InFlight == 1, cancellationToken: Ct);
        await time.AdvanceAsync(TimeSpan.FromSeconds(9.9));
        shutdown.IsCompleted.Should().BeFalse("the stubborn task has until the end of the grace period");
        await time.AdvanceAsync(TimeSpan.FromSeconds(0.1));
        var report = await shutdown.WaitAsync(FakeClock.HangTimeout, Ct);

        report.Completed.Should().Be(1);
        report.Cancelled.Should().Be(3, "one task honoured its token and two queued tasks never started");
        report.Faulted.Should().ContainSingle().Which.Name.Should().Be("faults-on-cancel");
        report.Faulted[0].Exception.Message.Should().Be("boom on cancel");
        report.Abandoned.Should().Equal("stubborn");
        report.IsClean.Should().BeFalse();
        report.Elapsed.Should().Be(TimeSpan.FromSeconds(10));
        logger.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == BackgroundTaskLog.ShutdownAbandonedId)
            .Which.Message.Should().Contain("stubborn");

        // The abandoned task's later fault is still logged, once.
        stubborn.SetResult();
        await FakeClock.WaitUntilAsync(() => tracker.InFlight == 0, cancellationToken: Ct);
        await FakeClock.WaitUntilAsync(() => logger.Collector.GetSnapshot().Any(r => r.Id.Id == BackgroundTaskLog.AbandonedTaskFaultedId), cancellationToken: Ct);
        var records = logger.Collector.GetSnapshot();
        records.Should().ContainSingle(r => r.Id.Id == BackgroundTaskLog.AbandonedTaskFaultedId)
            .Which.Should().Match<FakeLogRecord>(r => r.Message.Contains("'stubborn'") && r.Exception!.Message == "late boom");
        records.Where(r => r.Id.Id == BackgroundTaskLog.TaskFaultedId).Should().ContainSingle()
            .Which.Message.Should().Contain("'faults-on-cancel'");
        report.Faulted.Should().ContainSingle("the report does not change once returned");

        void Start(string name, Func<CancellationToken, Task> work) => tracker.TryStart(work, name).Should().BeTrue();
    }

    [Fact]
    public async Task ShutdownAsync_CalledTwice_ReturnsTheSameReportAndDisposeAsyncToo()
    {
        var time = FakeClock.Create();
        var tracker = new BackgroundTaskTracker(timeProvider: time);
        var gate = NewGate();
        tracker.TryStart(_ => gate.Task, "ignores-token").Should().BeTrue();

        var first = tracker.ShutdownAsync(TimeSpan.FromSeconds(1), Ct);
        var second = tracker.ShutdownAsync(TimeSpan.FromHours(1), Ct);
        await time.AdvanceAsync(TimeSpan.FromSeconds(1));
        var report = await first.WaitAsync(FakeClock.HangTimeout, Ct);

        (await second.WaitAsync(FakeClock.HangTimeout, Ct)).Should().BeSameAs(report);
        (await tracker.ShutdownAsync(TimeSpan.Zero, Ct)).Should().BeSameAs(report);
        await tracker.DisposeAsync();
        report.Abandoned.Should().Equal("ignores-token");
        gate.SetResult();
    }

    [Fact]
    public async Task ShutdownAsync_CooperativeWork_ReturnsBeforeTheGraceEnds()
    {
        var time = FakeClock.Create();
        var tracker = new BackgroundTaskTracker(timeProvider: time);
        var started = NewGate();
        tracker.TryStart(async ct =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, time, ct);
        }).Should().BeTrue();
        await started.Task.WaitAsync(FakeClock.HangTimeout, Ct);

        var report = await tracker.ShutdownAsync(TimeSpan.FromMinutes(5), Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        report.Cancelled.Should().Be(1);
        report.IsClean.Should().BeTrue();
        report.Elapsed.Should().Be(TimeSpan.Zero, "no fake time passed");
        tracker.InFlight.Should().Be(0);
    }

    [Fact]
    public async Task ShutdownAsync_CallerTokenCancelled_ThrowsButTheShutdownKeepsItsDeadline()
    {
        var time = FakeClock.Create();
        var tracker = new BackgroundTaskTracker(timeProvider: time);
        var gate = NewGate();
        tracker.TryStart(_ => gate.Task, "stubborn").Should().BeTrue();
        using var cts = new CancellationTokenSource();

        var wait = tracker.ShutdownAsync(TimeSpan.FromSeconds(5), cts.Token);
        await cts.CancelAsync();
        var ex = await wait.Invoking(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>();
        ex.Which.CancellationToken.Should().Be(cts.Token);

        var again = tracker.ShutdownAsync(TimeSpan.FromSeconds(5), Ct);
        await time.AdvanceAsync(TimeSpan.FromSeconds(5));
        (await again.WaitAsync(FakeClock.HangTimeout, Ct)).Abandoned.Should().Equal("stubborn");
        gate.SetResult();
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(-1000)]
    public void ShutdownAsync_NegativeGrace_ThrowsNamingGrace(int milliseconds)
    {
        var tracker = new BackgroundTaskTracker();

        Action act = () => _ = tracker.ShutdownAsync(TimeSpan.FromMilliseconds(milliseconds) - TimeSpan.FromTicks(1));

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("grace");
    }

    [Fact]
    public async Task DisposeAsync_StubbornWork_WaitsTheDefaultGrace()
    {
        var time = FakeClock.Create();
        var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { DefaultGrace = TimeSpan.FromSeconds(3) }, timeProvider: time);
        var gate = NewGate();
        tracker.TryStart(_ => gate.Task, "stubborn").Should().BeTrue();

        var dispose = tracker.DisposeAsync().AsTask();
        await time.AdvanceAsync(TimeSpan.FromSeconds(2.9));
        dispose.IsCompleted.Should().BeFalse();
        await time.AdvanceAsync(TimeSpan.FromSeconds(0.1));
        await dispose.WaitAsync(FakeClock.HangTimeout, Ct);

        (await tracker.ShutdownAsync(TimeSpan.Zero, Ct)).Abandoned.Should().Equal("stubborn");
        gate.SetResult();
    }

    [Fact]
    public async Task Dispose_ClosesAndCancelsWithoutWaiting()
    {
        var tracker = new BackgroundTaskTracker();
        var tokenSeen = new TaskCompletionSource<CancellationToken>(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = NewGate();
        tracker.TryStart(ct =>
        {
            tokenSeen.SetResult(ct);
            return gate.Task;
        }).Should().BeTrue();
        var token = await tokenSeen.Task.WaitAsync(FakeClock.HangTimeout, Ct);

        tracker.Dispose();

        token.IsCancellationRequested.Should().BeTrue();
        tracker.TryStart(_ => Task.CompletedTask).Should().BeFalse();
        (await tracker.ShutdownAsync(TimeSpan.FromSeconds(1), Ct).WaitAsync(FakeClock.HangTimeout, Ct)).Abandoned.Should().ContainSingle();
        gate.SetResult();
    }

    [Fact]
    public async Task Snapshot_RunningTasks_ListsNamesAndAgesOldestFirst()
    {
        var time = FakeClock.Create();
        await using var tracker = new BackgroundTaskTracker(timeProvider: time);
        var gate = NewGate();
        tracker.TryStart(_ => gate.Task, "old").Should().BeTrue();
        time.Advance(TimeSpan.FromSeconds(5));
        tracker.TryStart(_ => gate.Task).Should().BeTrue();
        time.Advance(TimeSpan.FromSeconds(2));

        var snapshot = tracker.Snapshot();

        snapshot.Should().Equal(
            new BackgroundTaskInfo("old", TimeSpan.FromSeconds(7)),
            new BackgroundTaskInfo("background-task-1", TimeSpan.FromSeconds(2)));
        gate.SetResult();
    }

    [Fact]
    public async Task StartAsync_OneHundredThousandShortTasksAtMaxInFlight64_LosesNothingAndNeverExceeds64()
    {
        const int Count = 100_000;
        const int Seed = 6_100;
        var random = new Random(Seed);
        await using var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = 64, MaxQueued = 256 });
        var current = 0;
        var peak = 0;
        var completed = 0;
        var trackerPeak = 0;

        for (var i = 0; i < Count; i++)
        {
            var yields = random.Next(4) == 0;
            await tracker.StartAsync(
                async _ =>
                {
                    var now = Interlocked.Increment(ref current);
                    UpdateMax(ref peak, now);
                    UpdateMax(ref trackerPeak, tracker.InFlight);
                    if (yields)
                    {
                        await Task.Yield();
                    }

                    Interlocked.Decrement(ref current);
                    Interlocked.Increment(ref completed);
                },
                cancellationToken: Ct);
        }

        await tracker.DrainAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        completed.Should().Be(Count, $"seed {Seed}");
        peak.Should().BeInRange(1, 64, $"seed {Seed}");
        trackerPeak.Should().BeInRange(1, 64, $"seed {Seed}");
        tracker.InFlight.Should().Be(0);

        static void UpdateMax(ref int max, int value)
        {
            int seen;
            while (value > (seen = Volatile.Read(ref max)) && Interlocked.CompareExchange(ref max, value, seen) != seen)
            {
            }
        }
    }

    private static TaskCompletionSource NewGate() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static Task WhenCancelled(CancellationToken ct)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ct.Register(() => tcs.SetResult());
        return tcs.Task;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference StartTaskHoldingState(BackgroundTaskTracker tracker, TaskCompletionSource done)
    {
        var state = new byte[4096];
        tracker.TryStart(
            _ =>
            {
                GC.KeepAlive(state);
                done.SetResult();
                return Task.CompletedTask;
            },
            "holds-state").Should().BeTrue();
        return new WeakReference(state);
    }
}
