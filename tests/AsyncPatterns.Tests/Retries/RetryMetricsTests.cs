using AsyncPatterns.Internal;
using AsyncPatterns.Retries;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Polly;

namespace AsyncPatterns.Tests.Retries;

/// <summary>The instruments are process-wide, so these tests run alone, never beside other retries.</summary>
[CollectionDefinition(nameof(RetryMetricsTests), DisableParallelization = true)]
public sealed class RetryMetricsCollection;

/// <summary>The metrics of <see cref="Retry"/> and <see cref="HttpRetry"/>, apart from their other tests because the instruments are process-wide.</summary>
[Collection(nameof(RetryMetricsTests))]
public sealed class RetryMetricsTests
{
    [Fact]
    public async Task Instruments_EveryScheduledRetry_IsCounted()
    {
        var clock = FakeClock.Create();
        using var retries = new MetricCollector<long>(Telemetry.Meter, "asyncpatterns.retries.retries", clock);
        var attempts = 0;
        var options = new RetryOptions
        {
            MaxRetries = 3,
            BaseDelay = TimeSpan.FromSeconds(1),
            BackoffType = DelayBackoffType.Constant,
            UseJitter = false,
            TimeProvider = clock,
        };

        var task = Retry.ExecuteAsync(
            _ => Interlocked.Increment(ref attempts) < 3 ? Task.FromException<int>(new IOException()) : Task.FromResult(1),
            options,
            TestContext.Current.CancellationToken);
        var value = await clock.AdvanceUntilCompletedAsync(task, TimeSpan.FromMilliseconds(500));

        value.Should().Be(1);
        retries.GetMeasurementSnapshot().EvaluateAsCounter().Should().Be(2);
        retries.Instrument!.Unit.Should().Be("{retry}");
        retries.Instrument.Description.Should().NotBeNullOrEmpty();
    }
}
