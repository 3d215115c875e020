using System.Collections.Concurrent;
using AsyncPatterns.BackgroundTasks;
using AsyncPatterns.BackgroundTasks.Internal;
using Microsoft.Extensions.Logging.Testing;

namespace AsyncPatterns.Tests.Reliability;

/// <summary>
/// Seeded stress of <see cref="BackgroundTaskTracker"/>: concurrent producers submit thousands of tasks with
/// <see cref="BackgroundTaskTracker.TryStart"/> and <see cref="BackgroundTaskTracker.StartAsync"/> (some waits cancelled),
/// tasks fault at random, and a drain or a shutdown races with the producers.
/// </summary>
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
        StressHarness.RunAsync(Name, ciRounds: 12, RoundAsync);

    private static async Task RoundAsync(int seed)
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
            logger);
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
}
