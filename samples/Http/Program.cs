// In Python's asyncio, concurrent requests with aiohttp:
//
//   async def fetch_url(session, url):
//       try:
//           async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
//               return {"url": url, "status": response.status, "data": await response.json()}
//       except asyncio.TimeoutError:
//           return {"url": url, "error": "timeout"}
//       except Exception as e:
//           return {"url": url, "error": str(e)}
//
//   async def fetch_multiple_urls(urls):
//       async with aiohttp.ClientSession() as session:
//           tasks = [fetch_url(session, url) for url in urls]
//           return await asyncio.gather(*tasks)
//
// In C#, one HttpClient is the session and ConcurrentHttpFetcher.FetchAllAsync is fetch_multiple_urls: every URL
// fetched with a timeout per request, at most MaxConcurrency at once (the Python version has no bound), and one FetchResult per
// URL, in input order, holding either the JSON value or an error (Timeout, HttpStatus, Network, ...), never an
// exception. The URLs point at the demo API on 127.0.0.1, plus one missing user, one slow server and one closed port.
//   dotnet run --project samples/Http   (about 2 s)
using AsyncPatterns.Http;
using AsyncPatterns.Samples.DemoApi;

const int Users = 12;
const int MaxConcurrency = 8;
var timeout = TimeSpan.FromSeconds(1); // per request; the Python version's ClientTimeout(total=10) is a common production value

// 1. The URLs: every user of the demo API, one missing user, one server that answers too late, one closed port.
await using var api = await DemoApiServer.StartAsync(new DemoApiOptions { UserCount = Users, Latency = TimeSpan.FromMilliseconds(50) });
await using var slowApi = await DemoApiServer.StartAsync(new DemoApiOptions { Latency = timeout * 5 });
Uri closedPort;
await using (var gone = await DemoApiServer.StartAsync(new DemoApiOptions()))
{
    closedPort = gone.Url("users/1"); // nothing listens there once this server has stopped
}

Uri[] urls =
[
    .. Enumerable.Range(1, Users).Select(id => api.Url($"users/{id}")),
    api.Url("users/9999"),   // 404 Not Found
    slowApi.Url("users/1"),  // answers long after the timeout
    closedPort,              // connection refused
];

// 2. fetch_multiple_urls: one shared HttpClient, at most MaxConcurrency requests at once, a timeout per request,
//    and one FetchResult per URL, in input order: the value, or the error that happened to that URL.
using var http = new HttpClient();
var fetcher = new ConcurrentHttpFetcher(http, new FetchOptions { MaxConcurrency = MaxConcurrency, PerRequestTimeout = timeout });

Console.WriteLine($"Fetching {urls.Length} URLs, at most {MaxConcurrency} at once, {timeout.TotalSeconds:0.#} s timeout per request");
IReadOnlyList<FetchResult<User>> results = await fetcher.FetchAllAsync(urls, DemoApiJsonContext.Default.User);

// 3. Every result: a success has the status and the data, a failure its kind (HttpStatus, Timeout, Network, ...).
foreach (var result in results)
{
    Console.WriteLine(result.IsSuccess
        ? $"   {{ url: {result.Uri}, status: {(int)result.StatusCode!}, data: {result.Value!.Name} (id {result.Value.Id}) }}"
        : $"   {{ url: {result.Uri}, error: {result.Error!.Kind}{(result.StatusCode is { } status ? $" {(int)status}" : "")}: {result.Error.Message} }}");
}

Console.WriteLine($"{results.Count} results: {results.Count(result => result.IsSuccess)} succeeded, {results.Count(result => !result.IsSuccess)} failed; "
    + $"the demo API saw at most {api.PeakInFlight} requests at once");
