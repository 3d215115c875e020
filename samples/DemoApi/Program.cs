// The demo API on its own: `dotnet run --project samples/DemoApi -- --port 5080` serves until Ctrl+C;
// `--smoke` starts it on an ephemeral port, makes a few requests to itself, prints what was served and exits.
using System.Globalization;
using System.Net.Http.Json;
using AsyncPatterns.Samples.DemoApi;

var options = new DemoApiOptions();
var smoke = false;
try
{
    for (var i = 0; i < args.Length; i++)
    {
        string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
        switch (args[i])
        {
            case "--port": options.Port = int.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--items": options.ItemCount = int.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--users": options.UserCount = int.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--latency": options.Latency = TimeSpan.FromMilliseconds(int.Parse(Next(), CultureInfo.InvariantCulture)); break;
            case "--failure-rate": options.FailureRate = double.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--429-rate": options.TooManyRequestsRate = double.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--retry-after": options.RetryAfterSeconds = int.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--faulty-lists": options.FaultyLists = true; break;
            case "--max-concurrency": options.MaxConcurrency = int.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--seed": options.Seed = int.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--smoke": smoke = true; break;
            default: throw new ArgumentException($"Unknown option {args[i]}.");
        }
    }

    options.Validate();
}
catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine("""
        usage: DemoApi [--port N] [--items N] [--users N] [--latency MS] [--failure-rate P] [--429-rate P]
                       [--retry-after S] [--faulty-lists] [--max-concurrency N] [--seed N] [--smoke]
        """);
    return 2;
}

return smoke ? await SmokeAsync(options) : await ServeAsync(options);

static async Task<int> ServeAsync(DemoApiOptions options)
{
    using var stop = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = true;
        stop.Cancel();
    };

    await using var server = await DemoApiServer.StartAsync(options, stop.Token);
    Console.WriteLine($"DemoApi listening on {server.BaseAddress} (Ctrl+C to stop)");
    Console.WriteLine($"  {options.ItemCount} items, {options.UserCount} users, latency {options.Latency.TotalMilliseconds} ms, "
        + $"failure rate {options.FailureRate}, 429 rate {options.TooManyRequestsRate} (Retry-After {options.RetryAfterSeconds} s), seed {options.Seed}");
    Console.WriteLine($"  try: curl -i \"{server.Url("items/link?page=1&per_page=5")}\"");
    try
    {
        await Task.Delay(Timeout.Infinite, stop.Token);
    }
    catch (OperationCanceledException)
    {
        Console.WriteLine($"Stopping after {server.Requests} requests (peak {server.PeakInFlight} in flight).");
    }

    return 0;
}

static async Task<int> SmokeAsync(DemoApiOptions options)
{
    options.Port = 0;
    options.ItemCount = Math.Min(options.ItemCount, 45);
    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
    var ct = timeout.Token;
    await using var server = await DemoApiServer.StartAsync(options, ct);
    using var http = new HttpClient { BaseAddress = server.BaseAddress };
    Console.WriteLine($"DemoApi smoke: serving {server.ItemCount} items on {server.BaseAddress}");

    var users = await http.GetFromJsonAsync("users?page=1&pageSize=3", DemoApiJsonContext.Default.IReadOnlyListUser, ct);
    Console.WriteLine($"  GET /users?page=1&pageSize=3  -> {string.Join(", ", users!.Select(u => u.Name))}");

    // Page through the whole list by cursor: every id once, in order.
    var ids = new List<int>();
    string? cursor = null;
    var pages = 0;
    do
    {
        var page = await http.GetFromJsonAsync($"items/cursor?limit=10&cursor={cursor}", DemoApiJsonContext.Default.CursorPage, ct);
        ids.AddRange(page!.Items.Select(item => item.Id));
        cursor = page.NextCursor;
        pages++;
    }
    while (cursor is not null);
    Console.WriteLine($"  GET /items/cursor              -> {ids.Count} items in {pages} pages");

    using var linked = await http.GetAsync("items/link?page=2&per_page=10", ct);
    Console.WriteLine($"  GET /items/link?page=2         -> {(int)linked.StatusCode}, Link: {linked.Headers.GetValues("Link").Single()}");

    var details = await http.GetFromJsonAsync("items/7", DemoApiJsonContext.Default.ItemDetails, ct);
    Console.WriteLine($"  GET /items/7                   -> {details!.Name}, {details.Category}, {details.Price.ToString(CultureInfo.InvariantCulture)}, tags {string.Join('/', details.Tags)}");

    using var missing = await http.GetAsync("items/9999", ct);
    Console.WriteLine($"  GET /items/9999                -> {(int)missing.StatusCode}");

    var stats = server.Stats;
    Console.WriteLine($"  served {stats.Requests} requests, peak {stats.PeakInFlight} in flight, {stats.Failures} failures, {stats.TooManyRequests} 429s");

    var ok = ids.SequenceEqual(Enumerable.Range(1, server.ItemCount)) && details.Id == 7 && (int)missing.StatusCode == 404;
    Console.WriteLine(ok ? "DemoApi smoke: ok" : "DemoApi smoke: FAILED");
    return ok ? 0 : 1;
}
