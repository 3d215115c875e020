using System.Diagnostics;
using System.Diagnostics.Metrics;
using AsyncPatterns.Internal;

namespace AsyncPatterns.Http.Internal;

/// <summary>The instruments of the fetcher, on the library's one <see cref="Meter"/>.</summary>
internal static class FetchMetrics
{
    private static readonly Counter<long> s_fetches = Telemetry.Meter.CreateCounter<long>(
        "asyncpatterns.http.fetches", "{request}", "Requests fetched by ConcurrentHttpFetcher, by outcome (success or the error kind).");

    private static readonly Histogram<double> s_duration = Telemetry.Meter.CreateHistogram<double>(
        "asyncpatterns.http.fetch.duration", "s", "Time from a request's slot to its result, over all its attempts.");

    public static void Record<T>(FetchResult<T> result)
    {
        if (!s_fetches.Enabled && !s_duration.Enabled)
        {
            return;
        }

        var outcome = new KeyValuePair<string, object?>("outcome", result.Error?.Kind.ToString() ?? "Success");
        s_fetches.Add(1, outcome);
        s_duration.Record(result.Elapsed.TotalSeconds, new TagList { outcome });
    }
}
