using System.Collections.Concurrent;
using AsyncPatterns.BackgroundTasks;
using AsyncPatterns.BackgroundTasks.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace AsyncPatterns.Tests.Reliability;

/// <summary>The retained-memory invariant reads the process-wide heap, so these tests run alone.</summary>
[CollectionDefinition(nameof(BackgroundTaskTrackerStressTests), DisableParallelization = true)]
public sealed class BackgroundTaskTrackerStressCollection;

/// <summary>
/// Seeded stress of <see cref="BackgroundTaskTracker"/>: concurrent producers submit thousands of tasks with
/// <see cref="BackgroundTaskTracker.TryStart"/> and <see cref="BackgroundTaskTracker.StartAsync"/> (some waits cancelled),
/// tasks fault at random (with a logger that works or one that throws), and a drain or a shutdown races with the
/// producers; <see cref="BackgroundTaskTracker.TryStart"/> races <see cref="BackgroundTaskTracker.ShutdownAsync"/>; and one
/// long-lived tracker's retained memory is measured against the work it has seen.
/// </summary>
[Collection(nameof(BackgroundTaskTrackerStressTests))]
public sealed class BackgroundTaskTrackerStressTests
{
    private const string Name = nameof(BackgroundTaskTrackerStressTests);

    private enum Outcome
    {
        None,
        Accepted,
        Refused,
        Cancelled,
        Closed,
    }

    [Fact]
    public Task StartAsync_RandomWorkFaultsCancellationsAndShutdown_EveryTaskAccountedForOnceAndLimitHeld() =>
        StressHarness.RunAsync(Name, ciRounds: 12, seed => RoundAsync(seed, throwingLogger: false));

    [Fact]
    public Task StartAsync_RandomWorkWithALoggerThatThrows_EveryTaskAccountedForOnceAndNothingUnobserved() =>
        StressHarness.RunAsync(Name, ciRounds: 12, seed => RoundAsync(seed, throwingLogger: true));

    /// <summary>
    /// One slot held until the shutdown cancels it, a thread calling <see cref="BackgroundTaskTracker.TryStart"/> in a loop
    /// (each accepted task is queued), and a shutdown: every accepted task was accepted before the shutdown began, so
    /// the shutdown drops it (it counts as cancelled) and it never runs.
    /// </summary>
    [Fact]
    public Task TryStart_RacingShutdownAsync_NothingAcceptedAfterTheShutdownBeganEverRuns() =>
        StressHarness.RunAsync(Name, ciRounds: 400, async seed =>
        {
            var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = 1, MaxQueued = 1_000_000, DefaultGrace = FakeClock.HangTimeout });
            var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            tracker.TryStart(
                async token =>
                {
                    holding.SetResult();
                    await StressHarness.WhenCancelledAsync(token);
                },
                "holder").Should().BeTrue();
            await StressHarness.BoundedAsync(holding.Task, "the holder starting");
            var ran = 0;
            var accepted = 0;
            var spinning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var spinner = Task.Run(() =>
            {
                Func<CancellationToken, Task> work = _ =>
                {
                    Interlocked.Increment(ref ran);
                    return Task.CompletedTask;
                };
                while (tracker.TryStart(work, "late"))
                {
                    accepted++;
                    spinning.TrySetResult();
                }

                spinning.TrySetResult();
            });
            await StressHarness.BoundedAsync(spinning.Task, "the spinner's first TryStart");

            var report = await StressHarness.BoundedAsync(tracker.ShutdownAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken), "ShutdownAsync");
            await StressHarness.BoundedAsync(spinner, "the spinner");
            await StressHarness.BoundedAsync(FakeClock.WaitUntilAsync(() => tracker.InFlight == 0, cancellationToken: TestContext.Current.CancellationToken), "the tracker emptying");

            Volatile.Read(ref ran).Should().Be(0, "every task accepted while the slot was held was queued, and the shutdown dropped the queue (seed {0})", seed);
            report.Completed.Should().Be(0);
            report.Cancelled.Should().Be(accepted + 1, "the holder ended on its token and each of the {0} queued tasks was dropped", accepted);
            report.IsClean.Should().BeTrue();
        });

    /// <summary>
    /// One tracker lives through 200,000 StartAsync waiters cancelled while it stays full, then 200,000 completed tasks:
    /// what it retains after a full GC does not grow with either number (a cancelled waiter leaves the queue at once, not
    /// when a slot frees; a finished task is released at once).
    /// </summary>
    [Fact]
    public async Task LongLivedTracker_CancelledWaitersAndCompletedWork_RetainedMemoryDoesNotGrow()
    {
        const int Operations = 200_000;
        const long Generous = 16L * 1024 * 1024;
        var ct = TestContext.Current.CancellationToken;
        var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = 4, MaxQueued = 16, DefaultGrace = FakeClock.HangTimeout });
        var completed = 0;
        Func<CancellationToken, Task> quick = _ =>
        {
            Interlocked.Increment(ref completed);
            return Task.CompletedTask;
        };
        await RunToCompletionAsync(tracker, quick, () => Volatile.Read(ref completed), 1_000);

        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<CancellationToken, Task> held = _ => gate.Task;
        while (tracker.TryStart(held, "held"))
        {
        }

        CancelWaiters(tracker, quick, 1_000);
        var beforeWaiters = GC.GetTotalMemory(forceFullCollection: true);
        CancelWaiters(tracker, quick, Operations);
        var afterWaiters = GC.GetTotalMemory(forceFullCollection: true);
        tracker.InFlight.Should().Be(4, "the tracker stayed full while the waiters were cancelled");
        gate.SetResult();
        await StressHarness.BoundedAsync(FakeClock.WaitUntilAsync(() => tracker.InFlight == 0, cancellationToken: ct), "the held tasks");

        var beforeWork = GC.GetTotalMemory(forceFullCollection: true);
        await RunToCompletionAsync(tracker, quick, () => Volatile.Read(ref completed), 1_000 + Operations);
        var afterWork = GC.GetTotalMemory(forceFullCollection: true);

        (afterWaiters - beforeWaiters).Should().BeLessThan(Generous, "{0} cancelled waiters leave nothing behind (retained {1:N0} bytes more)", Operations, afterWaiters - beforeWaiters);
        (afterWork - beforeWork).Should().BeLessThan(Generous, "{0} completed tasks leave nothing behind (retained {1:N0} bytes more)", Operations, afterWork - beforeWork);
        Volatile.Read(ref completed).Should().Be(1_000 + Operations, "no cancelled waiter ever ran");
        var report = await StressHarness.BoundedAsync(tracker.ShutdownAsync(FakeClock.HangTimeout, ct), "ShutdownAsync");
        report.IsClean.Should().BeTrue();
    }

    /// <summary>Starts short tasks with StartAsync (backpressure) until <paramref name="completed"/> reaches <paramref name="total"/>.</summary>
    private static async Task RunToCompletionAsync(BackgroundTaskTracker tracker, Func<CancellationToken, Task> quick, Func<int> completed, int total)
    {
        var ct = TestContext.Current.CancellationToken;
        for (var i = completed(); i < total; i++)
        {
            await tracker.StartAsync(quick, "quick", ct);
        }

        await StressHarness.BoundedAsync(FakeClock.WaitUntilAsync(() => completed() == total && tracker.InFlight == 0, cancellationToken: ct), "the quick tasks");
    }

    /// <summary>Cancels <paramref name="count"/> StartAsync waiters against a full tracker, one at a time.</summary>
    private static void CancelWaiters(BackgroundTaskTracker tracker, Func<CancellationToken, Task> work, int count)
    {
        for (var i = 0; i < count; i++)
        {
            using var wait = new CancellationTokenSource();
            var pending = tracker.StartAsync(work, "waiter", wait.Token);
            pending.IsCompleted.Should().BeFalse("the tracker is full");
            wait.Cancel();
            pending.IsCanceled.Should().BeTrue();
        }
    }

    private static async Task RoundAsync(int seed, bool throwingLogger)
    {
        var random = new Random(seed);
        var maxInFlight = random.Next(1, 9);
        var maxQueued = random.Next(0, 17);
        var shutdown = random.Next(2) == 0;
        const int producers = 4;
        var perProducer = random.Next(80, 160);
        var total = producers * perProducer;
        var closeAfter = random.Next(total / 2, total);
        var plans = Enumerable.Range(0, total).Select(_ => random.Next(100)).ToArray();
        var producerSeeds = Enumerable.Range(0, producers).Select(_ => random.Next()).ToArray();

        var logger = new FakeLogger<BackgroundTaskTracker>();
        var tracker = new BackgroundTaskTracker(
            new BackgroundTaskTrackerOptions { MaxInFlight = maxInFlight, MaxQueued = maxQueued, DefaultGrace = FakeClock.HangTimeout },
            throwingLogger ? new ThrowingLogger(logger, seed) : logger);
        var outcomes = new Outcome[total];
        var runs = new int[total];
        var ends = new int[total];
        var thrown = new ConcurrentDictionary<int, bool>();
        var running = 0;
        var peak = 0;
        var submitted = 0;
        var sleepers = 0;
        var closing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        Func<CancellationToken, Task> Work(int id) => async token =>
        {
            Interlocked.Increment(ref runs[id]);
            StressHarness.RaisePeak(ref peak, Interlocked.Increment(ref running));
            try
            {
                switch (plans[id])
                {
                    case < 40:
                        return;
                    case < 70:
                        await Task.Yield();
                        return;
                    case < 75:
                        thrown[id] = true;
                        throw new StressFault(Name, seed, id);
                    case < 80:
                        await Task.Yield();
                        thrown[id] = true;
                        throw new StressFault(Name, seed, id);
                    case < 90 when shutdown:
                        // Runs until the shutdown cancels it; once such tasks fill every slot nothing else can run, so the shutdown starts.
                        if (Interlocked.Increment(ref sleepers) >= maxInFlight)
                        {
                            closing.TrySetResult();
                        }

                        await StressHarness.WhenCancelledAsync(token);
                        return;
                    default:
                        await Task.Yield();
                        await Task.Yield();
                        return;
                }
            }
            finally
            {
                Interlocked.Decrement(ref running);
                Interlocked.Increment(ref ends[id]);
            }
        };

        async Task ProduceAsync(int producer)
        {
            var local = new Random(producerSeeds[producer]);
            for (var i = 0; i < perProducer; i++)
            {
                var id = (producer * perProducer) + i;
                if (Interlocked.Increment(ref submitted) == closeAfter)
                {
                    closing.TrySetResult();
                }

                var name = "task-" + id;
                if (local.Next(3) == 0)
                {
                    outcomes[id] = tracker.TryStart(Work(id), name) ? Outcome.Accepted : Outcome.Refused;
                    continue;
                }

                using var wait = new CancellationTokenSource();
                var pending = tracker.StartAsync(Work(id), name, wait.Token);
                var cancel = local.Next(5) == 0;
                if (cancel && local.Next(2) == 0)
                {
                    await Task.Yield();
                }

                if (cancel)
                {
                    await wait.CancelAsync();
                }

                try
                {
                    await pending;
                    outcomes[id] = Outcome.Accepted;
                }
                catch (OperationCanceledException ex) when (ex.CancellationToken == wait.Token)
                {
                    outcomes[id] = Outcome.Cancelled;
                }
                catch (InvalidOperationException)
                {
                    outcomes[id] = Outcome.Closed;
                }
            }
        }

        var producing = Task.WhenAll(Enumerable.Range(0, producers).Select(p => Task.Run(() => ProduceAsync(p))));
        await StressHarness.BoundedAsync(Task.WhenAny(closing.Task, producing), "the producers reaching the close point");
        ShutdownReport? report = null;
        if (shutdown)
        {
            report = await StressHarness.BoundedAsync(tracker.ShutdownAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken), "ShutdownAsync");
        }
        else
        {
            await StressHarness.BoundedAsync(tracker.DrainAsync(TestContext.Current.CancellationToken), "DrainAsync");
        }

        await StressHarness.BoundedAsync(producing, $"the producers (outcomes: {string.Join(",", outcomes.GroupBy(o => o).Select(g => g.Key + "=" + g.Count()))})");
        await StressHarness.BoundedAsync(tracker.DisposeAsync().AsTask(), "DisposeAsync");

        outcomes.Should().NotContain(Outcome.None, "every submission got an answer");
        peak.Should().BeLessThanOrEqualTo(maxInFlight, "MaxInFlight {0} is never exceeded", maxInFlight);
        tracker.InFlight.Should().Be(0);
        tracker.Snapshot().Should().BeEmpty();
        tracker.TryStart(_ => Task.CompletedTask).Should().BeFalse("the tracker is closed");

        var accepted = 0;
        var neverRan = 0;
        for (var id = 0; id < total; id++)
        {
            runs[id].Should().BeLessThanOrEqualTo(1, "task {0} ran once at most", id);
            ends[id].Should().Be(runs[id], "task {0} ended after it ran", id);
            if (outcomes[id] == Outcome.Accepted)
            {
                accepted++;
                neverRan += 1 - runs[id];
            }
            else
            {
                runs[id].Should().Be(0, "task {0} was not accepted ({1}), so it never runs", id, outcomes[id]);
            }
        }

        var faultRecords = logger.Collector.GetSnapshot().Where(r => r.Id.Id == BackgroundTaskLog.TaskFaultedId).ToList();
        faultRecords.Select(r => r.Exception.Should().BeOfType<StressFault>().Subject.Id)
            .Should().OnlyHaveUniqueItems().And.BeEquivalentTo(thrown.Keys, "every fault is logged exactly once");

        if (report is null)
        {
            neverRan.Should().Be(0, "a drain runs every accepted task");
        }
        else
        {
            report.Abandoned.Should().BeEmpty("every task honours cancellation within the grace period");
            var reportedFaults = report.Faulted.Select(f => f.Exception.Should().BeOfType<StressFault>().Subject.Id).ToList();
            reportedFaults.Should().OnlyHaveUniqueItems();
            reportedFaults.Where(id => !thrown.ContainsKey(id)).Should().BeEmpty("the report lists only faults that happened");
            report.Cancelled.Should().BeGreaterThanOrEqualTo(neverRan, "the queued tasks the shutdown dropped count as cancelled");
            (report.Completed + report.Faulted.Count + report.Cancelled).Should().BeLessThanOrEqualTo(accepted, "the report counts each task once");
        }
    }

    /// <summary>
    /// Records every entry in a <see cref="FakeLogger{T}"/>, then throws as Microsoft.Extensions.Logging does when a
    /// provider fails (an <see cref="AggregateException"/>), with a tagged <see cref="StressFault"/> the monitor would see
    /// if the tracker let it become an unobserved task exception.
    /// </summary>
    private sealed class ThrowingLogger(FakeLogger<BackgroundTaskTracker> inner, int seed) : ILogger<BackgroundTaskTracker>
    {
        private int _calls;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            inner.Log(logLevel, eventId, state, exception, formatter);
            throw new AggregateException(
                "An error occurred while writing to logger(s).",
                new StressFault(Name, seed, -Interlocked.Increment(ref _calls)));
        }
    }
}
