// One budget for every instance of an application. Three worker processes call the demo API, which serves at most
// 4 requests at once and answers 503 past that. Each worker limits itself to 3 requests at once and 40 starts a
// second: first with an in-process RequestRateLimiter each (so together they send up to 9 at once), then with one
// RedisRateLimiter shared through Redis (so together they send at most 3 at once, one slot below the cap for the
// server's own bookkeeping between a response and its counter).
//   dotnet run --project samples/DistributedRateLimiting                   (under 10 s)
//   dotnet run --project samples/DistributedRateLimiting -- --redis host:port
// Redis: --redis, else ASYNCPATTERNS_REDIS (set by .ci/redis.sh), else a redis-server of its own on a free port.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.Redis;
using AsyncPatterns.Samples.DemoApi;
using StackExchange.Redis;

const int ServerCap = 4;
const int PerWorkerConcurrency = 3;
const double PerWorkerRate = 40;
const int Workers = 3;

if (args.Length > 0 && args[0] == "--worker")
{
    return await WorkerAsync(args[1], new Uri(args[2]), args[3], int.Parse(args[4], CultureInfo.InvariantCulture), args[5]);
}

var redisArgument = args.SkipWhile(a => a != "--redis").Skip(1).FirstOrDefault();
if (args.Any(a => a != "--redis" && a != redisArgument))
{
    Console.Error.WriteLine("usage: DistributedRateLimiting [--redis host:port]");
    return 2;
}

const int RequestsPerWorker = 40;

// 1. The demo API, which serves at most ServerCap requests at once and answers 503 past that.
await using var api = await DemoApiServer.StartAsync(new DemoApiOptions { MaxConcurrency = ServerCap, Latency = TimeSpan.FromMilliseconds(40) });
Process? ownRedis = null;
var redis = redisArgument ?? Environment.GetEnvironmentVariable("ASYNCPATTERNS_REDIS");
try
{
    // 2. A Redis server for the shared limiter: --redis, else ASYNCPATTERNS_REDIS, else one of the sample's own.
    if (string.IsNullOrEmpty(redis))
    {
        (ownRedis, redis) = await StartRedisAsync();
        Console.WriteLine($"redis-server of its own on {redis}");
    }
    else
    {
        Console.WriteLine($"Redis at {redis}");
    }

    Console.WriteLine($"demo API at {api.BaseAddress}: at most {ServerCap} requests at once, 503 past that");
    Console.WriteLine($"{Workers} worker processes × {RequestsPerWorker} requests, each limited to {PerWorkerConcurrency} at once and {PerWorkerRate}/s");
    Console.WriteLine();

    // 3. The same workers twice: first each with its own in-process limiter, then all sharing one budget in Redis (under `key`).
    var key = "asyncpatterns-sample:" + Guid.NewGuid().ToString("N");
    var local = await RunPhaseAsync("in-process limiter per worker", "local", api.BaseAddress, redis, RequestsPerWorker, key);
    var shared = await RunPhaseAsync("one RedisRateLimiter shared by all", "redis", api.BaseAddress, redis, RequestsPerWorker, key);

    // 4. The comparison: the shared limiter keeps the three workers together within the server's cap.
    Console.WriteLine();
    Console.WriteLine($"{"limiter",-36} {"accepted",9} {"rejected (503)",15} {"time",8}");
    foreach (var (name, result) in new[] { ("in-process limiter per worker", local), ("one RedisRateLimiter shared by all", shared) })
    {
        Console.WriteLine($"{name,-36} {result.Accepted,9} {result.Rejected,15} {result.Elapsed.TotalSeconds,7:0.0}s");
    }

    return 0;
}
finally
{
    if (ownRedis is not null)
    {
        ownRedis.Kill();
        await ownRedis.WaitForExitAsync();
        ownRedis.Dispose();
    }
}

static async Task<PhaseResult> RunPhaseAsync(string title, string mode, Uri api, string redis, int requests, string key)
{
    Console.WriteLine($"-- {title}");
    var started = Stopwatch.GetTimestamp();
    var workers = Enumerable.Range(0, Workers).Select(_ => Process.Start(WorkerStartInfo(mode, api, redis, requests, key))!).ToList();
    var accepted = 0;
    var rejected = 0;
    foreach (var worker in workers)
    {
        var output = await worker.StandardOutput.ReadToEndAsync();
        await worker.WaitForExitAsync();
        var line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? string.Empty;
        var parts = line.Split(' ');
        if (worker.ExitCode != 0 || parts.Length != 3 || parts[0] != "result")
        {
            throw new InvalidOperationException($"a worker failed (exit {worker.ExitCode}): {output}");
        }

        accepted += int.Parse(parts[1], CultureInfo.InvariantCulture);
        rejected += int.Parse(parts[2], CultureInfo.InvariantCulture);
        Console.WriteLine($"   worker {worker.Id}: {parts[1]} accepted, {parts[2]} rejected");
        worker.Dispose();
    }

    return new PhaseResult(accepted, rejected, Stopwatch.GetElapsedTime(started));
}

// A worker is this program again, with --worker: the same executable, or the same dll under `dotnet <dll>`.
static ProcessStartInfo WorkerStartInfo(string mode, Uri api, string redis, int requests, string key)
{
    var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
    if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
    {
        start.ArgumentList.Add(typeof(PhaseResult).Assembly.Location);
    }

    foreach (var arg in new[] { "--worker", mode, api.ToString(), redis, requests.ToString(CultureInfo.InvariantCulture), key })
    {
        start.ArgumentList.Add(arg);
    }

    return start;
}

static async Task<int> WorkerAsync(string mode, Uri api, string redis, int requests, string key)
{
    await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(redis);
    await using RateLimiter limiter = mode == "redis"
        ? new RedisRateLimiter(new RedisRateLimiterOptions
        {
            ConnectionMultiplexer = multiplexer,
            Key = key,
            MaxConcurrency = PerWorkerConcurrency,
            PermitsPerSecond = PerWorkerRate,
            Burst = PerWorkerConcurrency,
        })
        : new RequestRateLimiter(new RequestRateLimiterOptions
        {
            MaxConcurrency = PerWorkerConcurrency,
            PermitsPerSecond = PerWorkerRate,
            Burst = PerWorkerConcurrency,
        });

    using var http = new HttpClient { BaseAddress = api };
    var accepted = 0;
    var rejected = 0;
    await Parallel.ForEachAsync(Enumerable.Range(1, requests), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
    {
        using var lease = await limiter.AcquireAsync(1, ct);
        if (!lease.IsAcquired)
        {
            throw new InvalidOperationException("the limiter rejected a request");
        }

        using var response = await http.GetAsync(new Uri($"items/{i}", UriKind.Relative), ct);
        if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
        {
            Interlocked.Increment(ref rejected);
        }
        else
        {
            response.EnsureSuccessStatusCode();
            Interlocked.Increment(ref accepted);
        }
    });

    Console.WriteLine($"result {accepted} {rejected}");
    return 0;
}

static async Task<(Process Process, string Endpoint)> StartRedisAsync()
{
    int port;
    using (var listener = new TcpListener(IPAddress.Loopback, 0))
    {
        listener.Start();
        port = ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    Process process;
    try
    {
        process = Process.Start(new ProcessStartInfo("redis-server")
        {
            ArgumentList = { "--bind", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--save", "", "--appendonly", "no" },
            RedirectStandardOutput = true,
            UseShellExecute = false,
        })!;
    }
    catch (System.ComponentModel.Win32Exception ex)
    {
        throw new InvalidOperationException("redis-server is not on the PATH: install it (apt-get install redis-server) or pass --redis host:port.", ex);
    }

    process.OutputDataReceived += static (_, _) => { };
    process.BeginOutputReadLine();
    for (var attempt = 0; ; attempt++)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            return (process, $"127.0.0.1:{port}");
        }
        catch (SocketException) when (attempt < 100)
        {
            await Task.Delay(50);
        }
    }
}

internal sealed record PhaseResult(int Accepted, int Rejected, TimeSpan Elapsed);
