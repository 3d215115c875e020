// In Python's asyncio, a rate limiter built from a semaphore and a minimum delay between requests:
//
//   class RateLimiter:
//       def __init__(self, max_concurrent, requests_per_second):
//           self.semaphore = asyncio.Semaphore(max_concurrent)
//           self.delay = 1.0 / requests_per_second
//       async def acquire(self): ...          # hold the semaphore, sleep until `delay` after the last request
//
//   async def rate_limited_fetch(limiter, url):
//       async with limiter.acquire():
//           await asyncio.sleep(0.1)          # simulate request
//           return {"url": url, "status": "success"}
//
//   limiter = RateLimiter(max_concurrent=5, requests_per_second=10)
//   await asyncio.gather(*[rate_limited_fetch(limiter, url) for url in urls])
//
// In C#, RequestRateLimiter is both limits in one System.Threading.RateLimiting.RateLimiter: a lease holds one of
// MaxConcurrency slots until it is disposed, and leases start at most PermitsPerSecond times a second (a token
// bucket). `using var lease = await limiter.AcquireAsync()` is the `async with`. Which limit binds depends on how long
// a request takes, so the sample runs fast requests (the rate binds) and then slow ones (the concurrency binds)
// against the demo API on 127.0.0.1, which counts the requests it serves at once.
//   dotnet run --project samples/RateLimiting            (about 9 s)
//   dotnet run --project samples/RateLimiting -- --smoke (about 2 s)
using System.Diagnostics;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.Samples.DemoApi;

if (args.Any(arg => arg != "--smoke"))
{
    Console.Error.WriteLine("usage: RateLimiting [--smoke]");
    return 2;
}

var smoke = args.Contains("--smoke");
const int MaxConcurrent = 5;
var requestsPerSecond = smoke ? 40.0 : 10.0;
var ok = true;

ok &= await RunAsync("1. Fast requests: the rate is the limit that holds", requests: smoke ? 20 : 50,
    latency: TimeSpan.FromSeconds(0.5 / requestsPerSecond), concurrencyBinds: false);
Console.WriteLine();
ok &= await RunAsync("2. Slow requests: the concurrency is the limit that holds", requests: 20,
    latency: TimeSpan.FromMilliseconds(smoke ? 400 : 800), concurrencyBinds: true);

Console.WriteLine();
Console.WriteLine(ok ? "RateLimiting: OK" : "RateLimiting: FAILED");
return ok ? 0 : 1;

async Task<bool> RunAsync(string title, int requests, TimeSpan latency, bool concurrencyBinds)
{
    Console.WriteLine($"{title}: {requests} requests of {latency.TotalMilliseconds:0} ms, at most {MaxConcurrent} at once and {requestsPerSecond} a second");
    await using var server = await DemoApiServer.StartAsync(new DemoApiOptions { ItemCount = requests, Latency = latency });
    using var http = new HttpClient { BaseAddress = server.BaseAddress };
    using var limiter = new RequestRateLimiter(maxConcurrency: MaxConcurrent, permitsPerSecond: requestsPerSecond);

    var clock = Stopwatch.StartNew();
    var starts = new TimeSpan[requests];

    // The .NET form of Python's rate_limited_fetch: wait for a lease, send the request, give the concurrency slot back.
    async Task<string> RateLimitedFetchAsync(int id)
    {
        using var lease = await limiter.AcquireAsync();
        if (!lease.IsAcquired)
        {
            return "rejected"; // only when the queue is full; its default limit is unbounded
        }

        starts[id - 1] = clock.Elapsed;
        using var response = await http.GetAsync($"items/{id}");
        return response.IsSuccessStatusCode ? "success" : $"failed with {(int)response.StatusCode}";
    }

    var results = await Task.WhenAll(Enumerable.Range(1, requests).Select(RateLimitedFetchAsync));
    var elapsed = clock.Elapsed;
    var succeeded = results.Count(result => result == "success");
    Array.Sort(starts);
    var startSpan = starts[^1] - starts[0];
    Console.WriteLine($"   {succeeded}/{requests} succeeded in {elapsed.TotalSeconds:0.00} s: {requests / elapsed.TotalSeconds:0.0} requests/s, "
        + $"starts spread over {startSpan.TotalSeconds:0.00} s, at most {server.PeakInFlight} in flight on the server");

    var passed = Check(succeeded == requests, "every request succeeded");
    passed &= Check(server.PeakInFlight <= MaxConcurrent, $"never more than {MaxConcurrent} in flight");
    // With a burst of 1, n starts take at least (n - 1) / rate (a little slack for when each start was recorded).
    passed &= Check(startSpan >= TimeSpan.FromSeconds((requests - 1) / requestsPerSecond) - TimeSpan.FromMilliseconds(50),
        $"never more than {requestsPerSecond} starts a second (at least {(requests - 1) / requestsPerSecond:0.00} s for {requests} starts)");
    if (concurrencyBinds)
    {
        passed &= Check(server.PeakInFlight == MaxConcurrent, $"all {MaxConcurrent} slots were in use: the rate alone would have allowed more");
    }

    return passed;
}

static bool Check(bool condition, string expectation)
{
    Console.WriteLine($"   {(condition ? "ok" : "NOT OK")}: {expectation}");
    return condition;
}
