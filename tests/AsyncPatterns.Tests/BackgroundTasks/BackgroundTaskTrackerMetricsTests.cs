using AsyncPatterns.BackgroundTasks;
using AsyncPatterns.BackgroundTasks.Internal;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace AsyncPatterns.Tests.BackgroundTasks;

/// <summary>The instruments are process-wide, so these tests run alone, never beside other trackers.</summary>
[CollectionDefinition(nameof(BackgroundTaskTrackerMetricsTests), DisableParallelization = true)]
public sealed class BackgroundTaskTrackerMetricsCollection;

/// <summary>
/// The metrics of <see cref="BackgroundTaskTracker"/>, apart from its other tests because the instruments are
/// process-wide and these tests must run alone.
/// </summary>
[Collection(nameof(BackgroundTaskTrackerMetricsTests))]
public sealed class BackgroundTaskTrackerMetricsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Instruments_StartFaultAbandon_RecordEveryEvent()
    {
        var time = FakeClock.Create();
        using var inFlight = new MetricCollector<long>(BackgroundTaskTelemetry.InFlight, time);
        using var started = new MetricCollector<long>(BackgroundTaskTelemetry.Started, time);
        using var faulted = new MetricCollector<long>(BackgroundTaskTelemetry.Faulted, time);
        using var abandoned = new MetricCollector<long>(BackgroundTaskTelemetry.Abandoned, time);
        using var duration = new MetricCollector<double>(BackgroundTaskTelemetry.Duration, time);
        var tracker = new BackgroundTaskTracker(timeProvider: time);
        var slow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stubborn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        tracker.TryStart(_ => slow.Task, "slow").Should().BeTrue();
        tracker.TryStart(_ => throw new InvalidOperationException("boom"), "faulty").Should().BeTrue();
        tracker.TryStart(_ => stubborn.Task, "stubborn").Should().BeTrue();
        await FakeClock.WaitUntilAsync(() => faulted.GetMeasurementSnapshot().Count == 1, cancellationToken: Ct);
        time.Advance(TimeSpan.FromSeconds(2));
        slow.SetResult();
        await FakeClock.WaitUntilAsync(() => tracker.InFlight == 1, cancellationToken: Ct);

        var report = await tracker.ShutdownAsync(TimeSpan.Zero, Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        report.Abandoned.Should().Equal("stubborn");
        started.GetMeasurementSnapshot().EvaluateAsCounter().Should().Be(3);
        faulted.GetMeasurementSnapshot().EvaluateAsCounter().Should().Be(1);
        abandoned.GetMeasurementSnapshot().EvaluateAsCounter().Should().Be(1);
        inFlight.GetMeasurementSnapshot().EvaluateAsCounter().Should().Be(1);
        duration.GetMeasurementSnapshot().Select(m => m.Value).Should().BeEquivalentTo([0d, 2d]);
        duration.LastMeasurement!.Value.Should().Be(2d);

        stubborn.SetResult();
        await FakeClock.WaitUntilAsync(() => tracker.InFlight == 0, cancellationToken: Ct);
        inFlight.GetMeasurementSnapshot().EvaluateAsCounter().Should().Be(0);
        duration.GetMeasurementSnapshot().Should().HaveCount(3);
    }

    [Fact]
    public void Instruments_HaveTheDocumentedNamesAndUnits()
    {
        System.Diagnostics.Metrics.Instrument[] instruments =
        [
            BackgroundTaskTelemetry.InFlight, BackgroundTaskTelemetry.Started, BackgroundTaskTelemetry.Faulted,
            BackgroundTaskTelemetry.Abandoned, BackgroundTaskTelemetry.Duration,
        ];

        instruments.Select(i => (i.Name, i.Unit)).Should().Equal(
            ("asyncpatterns.background_tasks.in_flight", "{task}"),
            ("asyncpatterns.background_tasks.started", "{task}"),
            ("asyncpatterns.background_tasks.faulted", "{task}"),
            ("asyncpatterns.background_tasks.abandoned", "{task}"),
            ("asyncpatterns.background_tasks.duration", "s"));
        instruments.Should().OnlyContain(i => !string.IsNullOrEmpty(i.Description) && i.Meter.Name == "AsyncPatterns");
    }

    [Fact]
    public async Task Abandoned_CleanShutdown_RecordsNothing()
    {
        var time = FakeClock.Create();
        using var abandoned = new MetricCollector<long>(BackgroundTaskTelemetry.Abandoned, time);
        var tracker = new BackgroundTaskTracker(timeProvider: time);
        tracker.TryStart(_ => Task.CompletedTask, "quick").Should().BeTrue();
        await FakeClock.WaitUntilAsync(() => tracker.InFlight == 0, cancellationToken: Ct);

        var report = await tracker.ShutdownAsync(TimeSpan.Zero, Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        report.IsClean.Should().BeTrue();
        abandoned.GetMeasurementSnapshot().Should().BeEmpty("a count of zero is not an event");
    }

    [Fact]
    public async Task Instruments_AMeterListenerThrows_WorkRunsAndTheAccountingHolds()
    {
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name.StartsWith("asyncpatterns.background_tasks.", StringComparison.Ordinal))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, _, _) => throw new InvalidOperationException("listener failed"));
        listener.SetMeasurementEventCallback<double>((_, _, _, _) => throw new InvalidOperationException("listener failed"));
        listener.Start();
        var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = 1, MaxQueued = 1, DefaultGrace = TimeSpan.Zero });
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var nextRan = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        tracker.TryStart(async _ => { await gate.Task; throw new InvalidOperationException("boom"); }, "faulty").Should().BeTrue();
        tracker.TryStart(_ => { nextRan.SetResult(); return Task.CompletedTask; }, "next").Should().BeTrue();
        gate.SetResult();
        await nextRan.Task.WaitAsync(FakeClock.HangTimeout, Ct);
        await tracker.DrainAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);
        tracker.InFlight.Should().Be(0);

        var stubborn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var second = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { DefaultGrace = TimeSpan.Zero });
        second.TryStart(_ => stubborn.Task, "stubborn").Should().BeTrue();
        var report = await second.ShutdownAsync(TimeSpan.Zero, Ct).WaitAsync(FakeClock.HangTimeout, Ct);
        report.Abandoned.Should().Equal("stubborn");
        stubborn.SetResult();
        await FakeClock.WaitUntilAsync(() => second.InFlight == 0, cancellationToken: Ct);
    }
}
