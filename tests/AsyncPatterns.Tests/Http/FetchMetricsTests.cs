using System.Net;
using AsyncPatterns.Http;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.Tests.Http;

/// <summary>The instruments are process-wide, so these tests run alone, never beside other fetches.</summary>
[CollectionDefinition(nameof(FetchMetricsTests), DisableParallelization = true)]
public sealed class FetchMetricsCollection;

/// <summary>The fetcher's metrics: one count and one duration per result, tagged with its outcome.</summary>
[Collection(nameof(FetchMetricsTests))]
public sealed class FetchMetricsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FetchAllAsync_EachResult_IsCountedAndTimedByOutcome()
    {
        var time = FakeClock.Create();
        using var fetches = new MetricCollector<long>(null, "AsyncPatterns", "asyncpatterns.http.fetches", time);
        using var duration = new MetricCollector<double>(null, "AsyncPatterns", "asyncpatterns.http.fetch.duration", time);
        var handler = new StubHttpMessageHandler(time)
            .OnPath("/missing", StubResponse.Status(HttpStatusCode.NotFound))
            .OnAnyRequest(StubResponse.Json("""{"id":1,"name":"item-1","price":1.25}"""));
        using var client = new HttpClient(handler);
        var fetcher = new ConcurrentHttpFetcher(client, new FetchOptions { TimeProvider = time, PerRequestTimeout = Timeout.InfiniteTimeSpan });
        Uri[] uris = [new("http://stub.test/a"), new("http://stub.test/missing"), new("http://stub.test/b")];

        var results = await fetcher.FetchAllAsync(uris, HttpTestJson.Default.ServerItem, Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        results.Select(r => r.IsSuccess).Should().Equal(true, false, true);
        var counts = fetches.GetMeasurementSnapshot();
        counts.Should().OnlyContain(m => m.Value == 1);
        counts.Select(m => (string?)m.Tags["outcome"]).Should().BeEquivalentTo(["Success", "HttpStatus", "Success"]);
        duration.GetMeasurementSnapshot().Select(m => (string?)m.Tags["outcome"]).Should().BeEquivalentTo(["Success", "HttpStatus", "Success"]);
        duration.GetMeasurementSnapshot().Should().OnlyContain(m => m.Value == 0d, "no fake time passed");
        fetches.Instrument!.Unit.Should().Be("{request}");
        duration.Instrument!.Unit.Should().Be("s");
        fetches.Instrument.Description.Should().NotBeNullOrEmpty();
        duration.Instrument.Description.Should().NotBeNullOrEmpty();
    }

    [Fact]
    public async Task FetchAllAsync_OnlyTheDurationIsListenedTo_StillRecordsIt()
    {
        var time = FakeClock.Create();
        using var duration = new MetricCollector<double>(null, "AsyncPatterns", "asyncpatterns.http.fetch.duration", time);

        await FetchOneAsync(time);

        duration.GetMeasurementSnapshot().Should().ContainSingle();
    }

    [Fact]
    public async Task FetchAllAsync_OnlyTheCountIsListenedTo_StillRecordsIt()
    {
        var time = FakeClock.Create();
        using var fetches = new MetricCollector<long>(null, "AsyncPatterns", "asyncpatterns.http.fetches", time);

        await FetchOneAsync(time);

        fetches.GetMeasurementSnapshot().Should().ContainSingle();
    }

    /// <summary>Fetches one URI that answers 200 with a JSON item.</summary>
    private static async Task FetchOneAsync(FakeTimeProvider time)
    {
        using var client = new HttpClient(new StubHttpMessageHandler(time).OnAnyRequest(StubResponse.Json("""{"id":1,"name":"item-1","price":1.25}""")));
        var fetcher = new ConcurrentHttpFetcher(client, new FetchOptions { TimeProvider = time, PerRequestTimeout = Timeout.InfiniteTimeSpan });

        await fetcher.FetchAllAsync([new Uri("http://stub.test/a")], HttpTestJson.Default.ServerItem, Ct).WaitAsync(FakeClock.HangTimeout, Ct);
    }

    [Fact]
    public async Task FetchAllAsync_MeterListenerCallbackThrows_EveryUrlStillGetsItsResult()
    {
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "AsyncPatterns" && instrument.Name == "asyncpatterns.http.fetches")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, _, _) => throw new InvalidOperationException("a broken exporter"));
        listener.Start();
        var handler = new StubHttpMessageHandler().OnAnyRequest(StubResponse.Text("ok"));
        using var client = new HttpClient(handler);
        var fetcher = new ConcurrentHttpFetcher(client, new FetchOptions { PerRequestTimeout = Timeout.InfiniteTimeSpan });

        var results = await fetcher.FetchAllRawAsync([new("http://stub.test/a"), new("http://stub.test/b")], Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        results.Should().HaveCount(2).And.OnlyContain(r => r.IsSuccess);
    }
}
