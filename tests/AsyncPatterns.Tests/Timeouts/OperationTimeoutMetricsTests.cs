using AsyncPatterns.Internal;
using AsyncPatterns.Timeouts;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace AsyncPatterns.Tests.Timeouts;

/// <summary>The instruments are process-wide, so these tests run alone, never beside other timeouts.</summary>
[CollectionDefinition(nameof(OperationTimeoutMetricsTests), DisableParallelization = true)]
public sealed class OperationTimeoutMetricsCollection;

/// <summary>The metrics of <see cref="OperationTimeout"/>, apart from its other tests because the instruments are process-wide.</summary>
[Collection(nameof(OperationTimeoutMetricsTests))]
public sealed class OperationTimeoutMetricsTests
{
    private static readonly TimeSpan OneSecond = TimeSpan.FromSeconds(1);

    private static Task<int> WaitForCancellation(CancellationToken ct)
    {
        var tcs = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        ct.Register(() => tcs.TrySetCanceled(ct));
        return tcs.Task;
    }

    [Fact]
    public async Task Instruments_TimeoutsAndOrphanFault_AreCounted()
    {
        var clock = FakeClock.Create();
        using var timedOut = new MetricCollector<long>(Telemetry.Meter, "asyncpatterns.timeouts.timed_out", clock);
        using var orphanFaults = new MetricCollector<long>(Telemetry.Meter, "asyncpatterns.timeouts.orphan_faults", clock);
        var ct = TestContext.Current.CancellationToken;

        var run = OperationTimeout.RunAsync(WaitForCancellation, OneSecond, clock, ct);
        var tryRun = OperationTimeout.TryRunAsync(WaitForCancellation, OneSecond, clock, ct);
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var detached = OperationTimeout.RunDetachedAsync(_ => gate.Task, OneSecond, timeProvider: clock, cancellationToken: ct);
        await clock.AdvanceAsync(OneSecond);

        await run.WaitAsync(FakeClock.HangTimeout, ct).Awaiting(t => t).Should().ThrowAsync<OperationTimeoutException>();
        (await tryRun.WaitAsync(FakeClock.HangTimeout, ct)).TimedOut.Should().BeTrue();
        await detached.WaitAsync(FakeClock.HangTimeout, ct).Awaiting(t => t).Should().ThrowAsync<OperationTimeoutException>();
        timedOut.GetMeasurementSnapshot().EvaluateAsCounter().Should().Be(3);
        orphanFaults.GetMeasurementSnapshot().Should().BeEmpty();

        gate.SetException(new IOException("late"));
        await FakeClock.WaitUntilAsync(() => orphanFaults.GetMeasurementSnapshot().Count == 1, cancellationToken: ct);
        orphanFaults.GetMeasurementSnapshot().EvaluateAsCounter().Should().Be(1);
        timedOut.Instrument!.Unit.Should().Be("{operation}");
        timedOut.Instrument.Description.Should().NotBeNullOrEmpty();
        orphanFaults.Instrument!.Unit.Should().Be("{operation}");
        orphanFaults.Instrument.Description.Should().NotBeNullOrEmpty();
    }
}
