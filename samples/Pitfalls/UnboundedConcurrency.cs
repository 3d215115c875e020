using System.Net;
using AsyncPatterns.Samples.DemoApi;

namespace AsyncPatterns.Samples.Pitfalls;

/// <summary>
/// Pitfall 5: starting every request at once. The server (here the demo API, which serves at most 16 requests at a
/// time and answers 503 beyond that) is overwhelmed, and so are sockets and memory on the client. A
/// <see cref="SemaphoreSlim"/> bounds the requests in flight.
/// </summary>
internal static class UnboundedConcurrency
{
    private const int ServerCapacity = 16;
    private const int Bound = 8;

    public static async Task<bool> RunAsync(Scale scale)
    {
        Console.WriteLine();
        Console.WriteLine("5. Unbounded concurrency");

        await using var server = await DemoApiServer.StartAsync(new DemoApiOptions
        {
            ItemCount = scale.Requests,
            Latency = TimeSpan.FromMilliseconds(20),
            MaxConcurrency = ServerCapacity,
        });
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        var ids = Enumerable.Range(1, scale.Requests).ToArray();

        // Wrong: one task per item, all started at once.
        var started = TimeProvider.System.GetTimestamp();
        var statuses = await Task.WhenAll(ids.Select(id => FetchAsync(http, id)));
        Report("wrong: Task.WhenAll over every item", server, statuses, started);

        // Right: at most `Bound` requests in flight.
        server.ResetCounters();
        using var gate = new SemaphoreSlim(Bound);
        started = TimeProvider.System.GetTimestamp();
        statuses = await Task.WhenAll(ids.Select(async id =>
        {
            await gate.WaitAsync();
            try
            {
                return await FetchAsync(http, id);
            }
            finally
            {
                gate.Release();
            }
        }));
        var failures = Report($"right: SemaphoreSlim({Bound}) around each request", server, statuses, started);
        return failures == 0 && server.PeakInFlight <= Bound;
    }

    private static async Task<HttpStatusCode> FetchAsync(HttpClient http, int id)
    {
        using var response = await http.GetAsync($"items/{id}");
        return response.StatusCode;
    }

    private static int Report(string label, DemoApiServer server, HttpStatusCode[] statuses, long started)
    {
        var failures = statuses.Count(status => status != HttpStatusCode.OK);
        Console.WriteLine($"   {label}: {statuses.Length} requests, peak {server.PeakInFlight} in flight "
            + $"(server capacity {ServerCapacity}), {failures} failed with 503, {TimeProvider.System.GetElapsedTime(started).TotalMilliseconds:F0} ms");
        return failures;
    }
}
