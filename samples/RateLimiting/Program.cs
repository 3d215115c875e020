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
//   dotnet run --project samples/RateLimiting   (about 4 s)
using System.Diagnostics;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.Samples.DemoApi;

const int MaxConcurrent = 5;
const double RequestsPerSecond = 20; // the Python version's 10 a second, doubled to keep the sample quick

// 1. Fast requests (a quarter of the interval between two starts): the rate is the limit that holds.
await RunAsync("1. Fast requests: the rate is the limit that holds", requests: 30,
    latency: TimeSpan.FromSeconds(0.25 / RequestsPerSecond));

// 2. Slow requests (longer than MaxConcurrent starts take): the concurrency is the limit that holds.
Console.WriteLine();
await RunAsync("2. Slow requests: the concurrency is the limit that holds", requests: 20,
    latency: TimeSpan.FromMilliseconds(400));

async Task RunAsync(string title, int requests, TimeSpan latency)
{
    Console.WriteLine($"{title}: {requests} requests of {latency.TotalMilliseconds:0} ms, at most {MaxConcurrent} at once and {RequestsPerSecond} a second");
    await using var server = await DemoApiServer.StartAsync(new DemoApiOptions { ItemCount = requests, Latency = latency });
    using var http = new HttpClient { BaseAddress = server.BaseAddress };
    using var limiter = new RequestRateLimiter(maxConcurrency: MaxConcurrent, permitsPerSecond: RequestsPerSecond);

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
    Array.Sort(starts);

    // With a burst of 1, n starts take at least (n - 1) / rate; a server that sees all MaxConcurrent slots busy shows
    // that the concurrency bound, not the rate, held the slow requests back.
    Console.WriteLine($"   {results.Count(result => result == "success")}/{requests} succeeded in {elapsed.TotalSeconds:0.00} s ({requests / elapsed.TotalSeconds:0.0} requests/s)");
    Console.WriteLine($"   starts spread over {(starts[^1] - starts[0]).TotalSeconds:0.000} s (the rate allows no less than {(requests - 1) / RequestsPerSecond:0.000} s)");
    Console.WriteLine($"   at most {server.PeakInFlight} in flight on the server");
}
