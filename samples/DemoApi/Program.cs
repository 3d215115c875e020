// The demo API on its own: `dotnet run --project samples/DemoApi -- --port 5080` serves until Ctrl+C (or SIGTERM),
// then prints how many requests it served. `--port 0` picks a free port; the first line says which.
// Try it with curl: /users?page=1&pageSize=3, /items/cursor?limit=10, /items/link?page=2&per_page=10, /items/7.
using System.Globalization;
using System.Runtime.InteropServices;
using AsyncPatterns.Samples.DemoApi;

var options = new DemoApiOptions();
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
                       [--retry-after S] [--faulty-lists] [--max-concurrency N] [--seed N]
        """);
    return 2;
}

return await ServeAsync(options);

static async Task<int> ServeAsync(DemoApiOptions options)
{
    // Ctrl+C, or SIGTERM (`kill`, `docker stop`): stop serving, say what was served, exit 0.
    using var stop = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = true;
        stop.Cancel();
    };
    using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
    {
        context.Cancel = true;
        stop.Cancel();
    });

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
