using AsyncPatterns.Connections;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace AsyncPatterns.Tests.Connections;

/// <summary>The pool's OpenTelemetry instruments (db.client.connection.*), observed through a MetricCollector.</summary>
public sealed class ConnectionPoolMetricsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Instruments_ReportCountsMaxPendingTimeoutsAndDurationsTaggedWithThePoolName()
    {
        var name = $"metrics-{Guid.NewGuid():N}";
        using var count = new MetricCollector<long>(null, "AsyncPatterns", "db.client.connection.count");
        using var max = new MetricCollector<long>(null, "AsyncPatterns", "db.client.connection.max");
        using var pending = new MetricCollector<long>(null, "AsyncPatterns", "db.client.connection.pending_requests");
        using var timeouts = new MetricCollector<long>(null, "AsyncPatterns", "db.client.connection.timeouts");
        using var waitTime = new MetricCollector<double>(null, "AsyncPatterns", "db.client.connection.wait_time");
        using var useTime = new MetricCollector<double>(null, "AsyncPatterns", "db.client.connection.use_time");
        using var createTime = new MetricCollector<double>(null, "AsyncPatterns", "db.client.connection.create_time");
        var time = FakeClock.Create();
        var options = new FakeConnectionFactory().Options(time, maxSize: 2);
        options.Name = name;
        options.AcquireTimeout = TimeSpan.FromSeconds(1);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);

        var a = await pool.AcquireAsync(Ct);
        await using var b = await pool.AcquireAsync(Ct);
        await time.AdvanceAsync(TimeSpan.FromSeconds(3));
        var waiting = pool.AcquireAsync(Ct).AsTask();
        var blocked = pool.AcquireAsync(Ct).AsTask();

        bool Mine(CollectedMeasurement<long> m) => Equals(m.Tags["db.client.connection.pool.name"], name);
        count.RecordObservableInstruments();
        max.RecordObservableInstruments();
        pending.RecordObservableInstruments();
        count.GetMeasurementSnapshot().Where(Mine).Select(m => ($"{m.Tags["db.client.connection.state"]}", m.Value))
            .Should().BeEquivalentTo([("idle", 0L), ("used", 2L)]);
        max.GetMeasurementSnapshot().Where(Mine).Single().Value.Should().Be(2);
        pending.GetMeasurementSnapshot().Where(Mine).Single().Value.Should().Be(2);

        await time.AdvanceAsync(TimeSpan.FromSeconds(1));
        await waiting.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ConnectionPoolTimeoutException>();
        await blocked.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ConnectionPoolTimeoutException>();
        await a.DisposeAsync();

        timeouts.GetMeasurementSnapshot().Where(Mine).Sum(m => m.Value).Should().Be(2);
        useTime.GetMeasurementSnapshot().Should().Contain(m => Equals(m.Tags["db.client.connection.pool.name"], name) && m.Value == 4.0);
        waitTime.GetMeasurementSnapshot().Count(m => Equals(m.Tags["db.client.connection.pool.name"], name)).Should().Be(2);
        createTime.GetMeasurementSnapshot().Count(m => Equals(m.Tags["db.client.connection.pool.name"], name)).Should().Be(2);
    }

    [Fact]
    public async Task Instruments_AreNamedAndUnitedAsTheSemanticConventionsSay()
    {
        var published = new List<(string Name, string? Unit)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == "AsyncPatterns" && instrument.Name.StartsWith("db.client.connection.", StringComparison.Ordinal))
                {
                    lock (published)
                    {
                        published.Add((instrument.Name, instrument.Unit));
                    }
                }
            },
        };
        await using (new AsyncConnectionPool<FakeConnection>(new FakeConnectionFactory().Options(FakeClock.Create())))
        {
            listener.Start();
        }

        published.Should().BeEquivalentTo(new (string, string?)[]
        {
            ("db.client.connection.count", "{connection}"),
            ("db.client.connection.max", "{connection}"),
            ("db.client.connection.pending_requests", "{request}"),
            ("db.client.connection.timeouts", "{timeout}"),
            ("db.client.connection.wait_time", "s"),
            ("db.client.connection.use_time", "s"),
            ("db.client.connection.create_time", "s"),
        });
    }

    [Fact]
    public async Task Instruments_AfterThePoolIsDisposed_NoLongerReportIt()
    {
        var name = $"metrics-{Guid.NewGuid():N}";
        using var max = new MetricCollector<long>(null, "AsyncPatterns", "db.client.connection.max");
        var options = new FakeConnectionFactory().Options(FakeClock.Create(), maxSize: 3);
        options.Name = name;
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        max.RecordObservableInstruments();
        max.GetMeasurementSnapshot().Should().Contain(m => Equals(m.Tags["db.client.connection.pool.name"], name) && m.Value == 3);

        await pool.DisposeAsync().AsTask().WaitAsync(FakeClock.HangTimeout, Ct);
        max.Clear();
        max.RecordObservableInstruments();

        max.GetMeasurementSnapshot().Should().NotContain(m => Equals(m.Tags["db.client.connection.pool.name"], name));
    }

    [Fact]
    public async Task CreateTime_OfABackgroundRefill_IsRecorded()
    {
        var name = $"metrics-{Guid.NewGuid():N}";
        using var createTime = new MetricCollector<double>(null, "AsyncPatterns", "db.client.connection.create_time");
        var options = new FakeConnectionFactory().Options(FakeClock.Create());
        options.Name = name;
        options.MinSize = 1;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);

        await FakeClock.WaitUntilAsync(() => pool.Statistics.Idle == 1, cancellationToken: Ct);

        createTime.GetMeasurementSnapshot().Count(m => Equals(m.Tags["db.client.connection.pool.name"], name)).Should().Be(1);
    }
}
