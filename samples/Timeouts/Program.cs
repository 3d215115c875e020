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
//   dotnet run --project samples/Timeouts            (about 6 s)
//   dotnet run --project samples/Timeouts -- --smoke (about 1 s)
using System.Diagnostics;
using System.Net.Http.Json;
using AsyncPatterns.Samples.DemoApi;
using AsyncPatterns.Timeouts;

if (args.Any(arg => arg != "--smoke"))
{
    Console.Error.WriteLine("usage: Timeouts [--smoke]");
    return 2;
}

var smoke = args.Contains("--smoke");
var latency = TimeSpan.FromSeconds(smoke ? 0.8 : 5); // how long the slow API takes to answer
var ok = true;

await using var server = await DemoApiServer.StartAsync(new DemoApiOptions { Latency = latency });
using var http = new HttpClient { BaseAddress = server.BaseAddress };
var url = "items/7";
Console.WriteLine($"The API at {server.BaseAddress} takes {latency.TotalSeconds:0.#} s to answer.");

var shortTimeout = latency / 4;
Console.WriteLine();
Console.WriteLine($"1. fetch_with_timeout({url}, timeout: {shortTimeout.TotalSeconds:0.#} s)");
var result = await FetchWithTimeoutAsync(url, shortTimeout);
Console.WriteLine($"   {result}");
ok &= Check(result.Error == "Request timed out", "the call timed out");
ok &= Check(result.Elapsed < latency, $"the caller got its answer after {result.Elapsed.TotalSeconds:0.00} s, without waiting for the slow response");

// The timeout cancelled the operation's token, so HttpClient aborted the request: the server sees it go.
var waited = Stopwatch.StartNew();
while (server.InFlight > 0 && waited.Elapsed < TimeSpan.FromSeconds(5))
{
    await Task.Delay(10);
}

ok &= Check(server.InFlight == 0, "the request was cancelled, not left running on the server");

var longTimeout = latency * 2;
Console.WriteLine();
Console.WriteLine($"2. fetch_with_timeout({url}, timeout: {longTimeout.TotalSeconds:0.#} s)");
result = await FetchWithTimeoutAsync(url, longTimeout);
Console.WriteLine($"   {result}");
ok &= Check(result.Data?.Id == 7, "the call completed within its timeout, with the item");

Console.WriteLine();
Console.WriteLine(ok ? "Timeouts: OK" : "Timeouts: FAILED");
return ok ? 0 : 1;

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

static bool Check(bool condition, string expectation)
{
    Console.WriteLine($"   {(condition ? "ok" : "NOT OK")}: {expectation}");
    return condition;
}

internal sealed record FetchResult(string Url, ItemDetails? Data, string? Error, TimeSpan Elapsed)
{
    public override string ToString() => Error is null
        ? $"{{ url: {Url}, data: {Data?.Name} (id {Data?.Id}), after {Elapsed.TotalSeconds:0.00} s }}"
        : $"{{ url: {Url}, error: {Error}, after {Elapsed.TotalSeconds:0.00} s }}";
}
