// In Python's asyncio, a slow request bounded by asyncio.wait_for:
//
//   async def fetch_with_timeout(url, timeout=5.0):
//       try:
//           return await asyncio.wait_for(fetch_data(url), timeout=timeout)
//       except asyncio.TimeoutError:
//           return {"error": "Request timed out", "url": url}
//
//   async def fetch_data(url):
//       await asyncio.sleep(10)   # simulate slow request
//       return {"data": "result"}
//
//   result = await fetch_with_timeout("https://slow-api.com", timeout=3.0)
//
// In C#, OperationTimeout.TryRunAsync runs the operation with a token that is cancelled when the timeout fires, waits
// for it to stop, and returns a TimeoutResult (Completed/TimedOut, Value, Elapsed) instead of throwing.
// (OperationTimeout.RunAsync is the throwing form: an OperationTimeoutException, a TimeoutException.)
// The slow API is the demo API on 127.0.0.1 with a fixed latency.
//   dotnet run --project samples/Timeouts   (about 3 s)
using System.Diagnostics;
using System.Net.Http.Json;
using AsyncPatterns.Samples.DemoApi;
using AsyncPatterns.Timeouts;

// How long the slow API takes to answer: 2 s keeps the sample quick (the Python version sleeps 10 s against a 3 s timeout).
var latency = TimeSpan.FromSeconds(2);
await using var server = await DemoApiServer.StartAsync(new DemoApiOptions { Latency = latency });
using var http = new HttpClient { BaseAddress = server.BaseAddress };
var url = "items/7";
Console.WriteLine($"The API at {server.BaseAddress} takes {latency.TotalSeconds:0.#} s to answer.");

// 1. A timeout shorter than the call: the caller gets "Request timed out" as soon as the timeout fires.
var shortTimeout = TimeSpan.FromMilliseconds(250);
Console.WriteLine();
Console.WriteLine($"1. fetch_with_timeout({url}, timeout: {shortTimeout.TotalSeconds:0.##} s)");
var result = await FetchWithTimeoutAsync(url, shortTimeout);
Console.WriteLine($"   {result}");

// 2. The timeout cancelled the operation's token, so HttpClient aborted the request: the server sees it go (a moment
//    later, when it notices the closed connection) instead of working on for nobody. On a cold start the request may
//    not even have reached the server within 250 ms; either way nothing is left running there.
var watch = Stopwatch.StartNew();
while (server.InFlight > 0 && watch.Elapsed < TimeSpan.FromSeconds(10))
{
    await Task.Delay(10);
}

Console.WriteLine();
Console.WriteLine("2. What the server saw");
Console.WriteLine($"   requests that reached the server: {server.Requests}; still in flight there: {server.InFlight}");

// 3. A timeout longer than the call: the data.
var longTimeout = latency * 2;
Console.WriteLine();
Console.WriteLine($"3. fetch_with_timeout({url}, timeout: {longTimeout.TotalSeconds:0.##} s)");
result = await FetchWithTimeoutAsync(url, longTimeout);
Console.WriteLine($"   {result}");

// The .NET form of Python's fetch_with_timeout: the data, or an error saying that the request timed out.
async Task<FetchResult> FetchWithTimeoutAsync(string url, TimeSpan timeout)
{
    TimeoutResult<ItemDetails?> result = await OperationTimeout.TryRunAsync(
        cancellationToken => http.GetFromJsonAsync(url, DemoApiJsonContext.Default.ItemDetails, cancellationToken), // fetch_data
        timeout);
    return result.TryGetValue(out var data)
        ? new FetchResult(url, data, Error: null, result.Elapsed)
        : new FetchResult(url, Data: null, Error: "Request timed out", result.Elapsed);
}

internal sealed record FetchResult(string Url, ItemDetails? Data, string? Error, TimeSpan Elapsed)
{
    public override string ToString() => Error is null
        ? $"{{ url: {Url}, data: {Data?.Name} (id {Data?.Id}), after {Elapsed.TotalSeconds:0.00} s }}"
        : $"{{ url: {Url}, error: {Error}, after {Elapsed.TotalSeconds:0.00} s }}";
}
