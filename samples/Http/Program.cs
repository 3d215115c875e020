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
//   dotnet run --project samples/Http            (about 3 s)
//   dotnet run --project samples/Http -- --smoke (about 1 s)
using System.Net;
using AsyncPatterns.Http;
using AsyncPatterns.Samples.DemoApi;

if (args.Any(arg => arg != "--smoke"))
{
    Console.Error.WriteLine("usage: Http [--smoke]");
    return 2;
}

var smoke = args.Contains("--smoke");
var users = smoke ? 12 : 40;
var timeout = TimeSpan.FromSeconds(smoke ? 0.5 : 2); // the Python version's ClientTimeout(total=10)
const int MaxConcurrency = 8;
var ok = true;

await using var api = await DemoApiServer.StartAsync(new DemoApiOptions { UserCount = users, Latency = TimeSpan.FromMilliseconds(50) });
await using var slowApi = await DemoApiServer.StartAsync(new DemoApiOptions { Latency = timeout * 5 });
Uri closedPort;
await using (var gone = await DemoApiServer.StartAsync(new DemoApiOptions()))
{
    closedPort = gone.Url("users/1"); // nothing listens there once this server has stopped
}

Uri[] urls =
[
    .. Enumerable.Range(1, users).Select(id => api.Url($"users/{id}")),
    api.Url("users/9999"),   // 404 Not Found
    slowApi.Url("users/1"),  // answers long after the timeout
    closedPort,              // connection refused
];

using var http = new HttpClient();
var fetcher = new ConcurrentHttpFetcher(http, new FetchOptions { MaxConcurrency = MaxConcurrency, PerRequestTimeout = timeout });

Console.WriteLine($"Fetching {urls.Length} URLs, at most {MaxConcurrency} at once, {timeout.TotalSeconds:0.#} s timeout per request");
IReadOnlyList<FetchResult<User>> results = await fetcher.FetchAllAsync(urls, DemoApiJsonContext.Default.User);

foreach (var result in results.Take(3).Concat(results.TakeLast(3)))
{
    Console.WriteLine(result.IsSuccess
        ? $"   {{ url: {result.Uri}, status: {(int)result.StatusCode!}, data: {result.Value!.Name} }}"
        : $"   {{ url: {result.Uri}, error: {result.Error!.Kind}: {result.Error.Message} }}");
}

Console.WriteLine($"   ... {results.Count(result => result.IsSuccess)} succeeded, {results.Count(result => !result.IsSuccess)} failed; "
    + $"the demo API saw at most {api.PeakInFlight} requests at once");

Console.WriteLine();
ok &= Check(results.Count == urls.Length && results.Select(result => result.Uri).SequenceEqual(urls), "one result per URL, in input order");
ok &= Check(results.Take(users).All(result => result.IsSuccess && result.Value!.Id == result.Index + 1), $"all {users} users fetched");
ok &= Check(results[users].Error?.Kind == FetchErrorKind.HttpStatus && results[users].StatusCode == HttpStatusCode.NotFound, "the missing user is an HttpStatus error (404)");
ok &= Check(results[users + 1].Error?.Kind == FetchErrorKind.Timeout, "the slow server is a Timeout error");
ok &= Check(results[users + 2].Error?.Kind == FetchErrorKind.Network, "the closed port is a Network error");
ok &= Check(api.PeakInFlight <= MaxConcurrency, $"never more than {MaxConcurrency} requests in flight");

Console.WriteLine();
Console.WriteLine(ok ? "Http: OK" : "Http: FAILED");
return ok ? 0 : 1;

static bool Check(bool condition, string expectation)
{
    Console.WriteLine($"{(condition ? "ok" : "NOT OK")}: {expectation}");
    return condition;
}
