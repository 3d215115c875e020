using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Threading.RateLimiting;
using AsyncPatterns.Redis;
using RedisRateLimiting;
using StackExchange.Redis;
using RedisRateLimiterOptions = AsyncPatterns.Redis.RedisRateLimiterOptions;

namespace AsyncPatterns.Benchmarks;

/// <summary>
/// The most grants per second from several processes sharing one key: for each limiter (<see cref="RedisRateLimiter"/>
/// with a rate limit and with a concurrency limit, the <c>RedisRateLimiting</c> token bucket and concurrency limiter)
/// and N = 1 … max processes, it starts N child processes of this executable (<c>throughput-worker</c>), each holding
/// 256 acquire + release loops in flight against the same key for a fixed time, with limits that never bind. Each child
/// warms up for half a second, says READY, and starts on GO (all at once). The parent prints the total grants per
/// second (the sum of each child's grants over its own elapsed time), the round trips per grant (the operations each
/// child's multiplexer sent, heartbeats included, from <c>GetCounters()</c>), the CPU time per grant of the children
/// and of the Redis server (<c>INFO cpu</c>), and the server's commands per grant (the delta of <c>INFO commandstats</c>,
/// which also counts the commands a script runs, so it is the server's work, not round trips). Other clients of the
/// same Redis add to the server's figures: use a Redis of its own for them.
/// </summary>
/// <remarks>
/// <c>dotnet run -c Release --project tests/AsyncPatterns.Benchmarks -- throughput [seconds per case] [max processes]</c>
/// (ASYNCPATTERNS_REDIS set). Every child is killed if it has not finished 30 s after its case should have ended.
/// </remarks>
internal static class Throughput
{
    private const int InFlight = 256;

    private static readonly string[] s_kinds = ["theirs-token-bucket", "ours-rate", "theirs-concurrency", "ours-concurrency"];

    public static async Task<int> MainAsync(string[] args)
    {
        var endpoint = Environment.GetEnvironmentVariable("ASYNCPATTERNS_REDIS");
        if (string.IsNullOrEmpty(endpoint))
        {
            Console.Error.WriteLine("Set ASYNCPATTERNS_REDIS (source .ci/redis.sh starts a redis-server and sets it).");
            return 2;
        }

        var seconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 3;
        var maxProcesses = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 3;
        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(endpoint + ",allowAdmin=true");
        var server = multiplexer.GetServer(multiplexer.GetEndPoints()[0]);
        var run = Guid.NewGuid().ToString("N");

        Console.WriteLine($"{InFlight} in flight per process, {seconds.ToString(CultureInfo.InvariantCulture)} s per case, limits that never bind");
        Console.WriteLine("| limiter | processes | grants/s (all processes) | round trips per grant | client CPU µs per grant | Redis CPU µs per grant | Redis commands per grant |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var kind in s_kinds)
        {
            for (var n = 1; n <= maxProcesses; n++)
            {
                var key = $"throughput:{run}:{kind}:{n}";
                var result = await RunCaseAsync(server, endpoint, kind, key, n, seconds);
                if (result is null)
                {
                    return 1;
                }

                var (grantsPerSecond, roundTrips, clientCpuUs, redisCpuUs, commands, grants) = result.Value;
                var top = string.Join(", ", commands.OrderByDescending(c => c.Value).Take(4)
                    .Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key} {c.Value / (double)grants:0.00}")));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {Describe(kind)} | {n} | {grantsPerSecond:N0} | {roundTrips / (double)grants:0.00} | {clientCpuUs / (double)grants:0.0} | {redisCpuUs / grants:0.0} | {commands.Values.Sum() / (double)grants:0.00} ({top}) |"));
            }
        }

        return 0;
    }

    /// <summary>One child: <c>throughput-worker &lt;kind&gt; &lt;key&gt; &lt;seconds&gt;</c>; prints READY, waits for GO, prints DONE grants operations seconds cpu-µs.</summary>
    public static async Task<int> WorkerAsync(string[] args)
    {
        var endpoint = Environment.GetEnvironmentVariable("ASYNCPATTERNS_REDIS")!;
        var kind = args[1];
        var key = args[2];
        var seconds = double.Parse(args[3], CultureInfo.InvariantCulture);
        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(endpoint);
        using var limiter = Create(kind, key, multiplexer);

        await DriveAsync(limiter, TimeSpan.FromSeconds(0.5));
        Console.WriteLine("READY");
        if (await Console.In.ReadLineAsync() != "GO")
        {
            return 1;
        }

        using var self = Process.GetCurrentProcess();
        var cpu = self.TotalProcessorTime;
        var operations = Operations(multiplexer);
        var clock = Stopwatch.StartNew();
        var grants = await DriveAsync(limiter, TimeSpan.FromSeconds(seconds));
        var elapsed = clock.Elapsed.TotalSeconds;
        operations = Operations(multiplexer) - operations;
        self.Refresh();
        var cpuUs = (self.TotalProcessorTime - cpu).Ticks / 10;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"DONE {grants} {operations} {elapsed:R} {cpuUs}"));
        return 0;
    }

    private static string Describe(string kind) => kind switch
    {
        "theirs-token-bucket" => "RedisRateLimiting token bucket",
        "ours-rate" => "RedisRateLimiter (rate)",
        "theirs-concurrency" => "RedisRateLimiting concurrency",
        _ => "RedisRateLimiter (concurrency)",
    };

    private static RateLimiter Create(string kind, string key, ConnectionMultiplexer multiplexer) => kind switch
    {
        "theirs-token-bucket" => new RedisTokenBucketRateLimiter<string>(key, new RedisTokenBucketRateLimiterOptions
        {
            ConnectionMultiplexerFactory = () => multiplexer,
            TokenLimit = 10_000_000,
            TokensPerPeriod = 10_000_000,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
        }),
        "ours-rate" => new RedisRateLimiter(new RedisRateLimiterOptions
        {
            ConnectionMultiplexer = multiplexer,
            Key = key,
            PermitsPerSecond = RedisRateLimiterOptions.MaxPermitsPerSecond,
            Burst = 1_000_000,
        }),
        "theirs-concurrency" => new RedisConcurrencyRateLimiter<string>(key, new RedisConcurrencyRateLimiterOptions
        {
            ConnectionMultiplexerFactory = () => multiplexer,
            PermitLimit = 100_000,
            QueueLimit = 0,
        }),
        "ours-concurrency" => new RedisRateLimiter(new RedisRateLimiterOptions
        {
            ConnectionMultiplexer = multiplexer,
            Key = key,
            MaxConcurrency = 100_000,
        }),
        _ => throw new ArgumentException($"Unknown limiter '{kind}'.", nameof(kind)),
    };

    private static long Operations(ConnectionMultiplexer multiplexer) =>
        multiplexer.GetCounters().Interactive.OperationCount + multiplexer.GetCounters().Subscription.OperationCount;

    /// <summary>Keeps <see cref="InFlight"/> acquire + release loops going for the duration; returns the grants.</summary>
    private static async Task<long> DriveAsync(RateLimiter limiter, TimeSpan duration)
    {
        using var stop = new CancellationTokenSource(duration);
        var loops = new Task<long>[InFlight];
        for (var i = 0; i < loops.Length; i++)
        {
            loops[i] = Task.Run(async () =>
            {
                long granted = 0;
                while (!stop.IsCancellationRequested)
                {
                    using var lease = await limiter.AcquireAsync(1);
                    if (!lease.IsAcquired)
                    {
                        throw new InvalidOperationException("A lease was rejected: the limits are too low.");
                    }

                    granted++;
                }

                return granted;
            });
        }

        return (await Task.WhenAll(loops)).Sum();
    }

    private static async Task<(double GrantsPerSecond, long RoundTrips, long ClientCpuUs, double RedisCpuUs, Dictionary<string, long> Commands, long Grants)?> RunCaseAsync(
        IServer server, string endpoint, string kind, string key, int processes, double seconds)
    {
        var children = new List<Process>();
        try
        {
            for (var i = 0; i < processes; i++)
            {
                children.Add(StartChild(endpoint, kind, key, seconds));
            }

            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(seconds + 60));
            foreach (var child in children)
            {
                if (await child.StandardOutput.ReadLineAsync(limit.Token) != "READY")
                {
                    Console.Error.WriteLine($"A {kind} worker did not start: {await child.StandardError.ReadToEndAsync(limit.Token)}");
                    return null;
                }
            }

            var before = await CommandStatsAsync(server);
            var cpuBefore = await RedisCpuSecondsAsync(server);
            foreach (var child in children)
            {
                await child.StandardInput.WriteLineAsync("GO");
                await child.StandardInput.FlushAsync(limit.Token);
            }

            double grantsPerSecond = 0;
            long grants = 0;
            long roundTrips = 0;
            long clientCpuUs = 0;
            foreach (var child in children)
            {
                var line = await child.StandardOutput.ReadLineAsync(limit.Token);
                var parts = line?.Split(' ');
                if (parts is not { Length: 5 } || parts[0] != "DONE")
                {
                    Console.Error.WriteLine($"A {kind} worker failed: {line} {await child.StandardError.ReadToEndAsync(limit.Token)}");
                    return null;
                }

                var childGrants = long.Parse(parts[1], CultureInfo.InvariantCulture);
                grants += childGrants;
                roundTrips += long.Parse(parts[2], CultureInfo.InvariantCulture);
                clientCpuUs += long.Parse(parts[4], CultureInfo.InvariantCulture);
                grantsPerSecond += childGrants / double.Parse(parts[3], CultureInfo.InvariantCulture);
            }

            var redisCpuUs = (await RedisCpuSecondsAsync(server) - cpuBefore) * 1e6;
            var after = await CommandStatsAsync(server);
            var commands = after
                .Select(c => (c.Key, Value: c.Value - before.GetValueOrDefault(c.Key)))
                .Where(c => c.Value > 0 && c.Key != "info")
                .ToDictionary(c => c.Key, c => c.Value);
            foreach (var child in children)
            {
                await child.WaitForExitAsync(limit.Token);
            }

            return (grantsPerSecond, roundTrips, clientCpuUs, redisCpuUs, commands, grants);
        }
        finally
        {
            foreach (var child in children)
            {
                if (!child.HasExited)
                {
                    child.Kill(entireProcessTree: true);
                }

                child.Dispose();
            }
        }
    }

    private static Process StartChild(string endpoint, string kind, string key, double seconds)
    {
        var path = Environment.ProcessPath!;
        var start = new ProcessStartInfo(path)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(path) == "dotnet")
        {
            start.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        }

        start.ArgumentList.Add("throughput-worker");
        start.ArgumentList.Add(kind);
        start.ArgumentList.Add(key);
        start.ArgumentList.Add(seconds.ToString(CultureInfo.InvariantCulture));
        start.Environment["ASYNCPATTERNS_REDIS"] = endpoint;
        return Process.Start(start) ?? throw new InvalidOperationException($"Could not start {path}.");
    }

    /// <summary>The Redis server's CPU time so far (<c>used_cpu_user</c> + <c>used_cpu_sys</c> of <c>INFO cpu</c>), in seconds.</summary>
    private static async Task<double> RedisCpuSecondsAsync(IServer server)
    {
        double seconds = 0;
        foreach (var group in await server.InfoAsync("cpu"))
        {
            foreach (var entry in group)
            {
                if (entry.Key is "used_cpu_user" or "used_cpu_sys")
                {
                    seconds += double.Parse(entry.Value, CultureInfo.InvariantCulture);
                }
            }
        }

        return seconds;
    }

    /// <summary>Calls per command from <c>INFO commandstats</c> (<c>cmdstat_evalsha:calls=12,…</c>).</summary>
    private static async Task<Dictionary<string, long>> CommandStatsAsync(IServer server)
    {
        var stats = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var group in await server.InfoAsync("commandstats"))
        {
            foreach (var entry in group)
            {
                var name = entry.Key.StartsWith("cmdstat_", StringComparison.Ordinal) ? entry.Key["cmdstat_".Length..] : entry.Key;
                var calls = entry.Value.Split(',')[0];
                if (calls.StartsWith("calls=", StringComparison.Ordinal))
                {
                    stats[name] = long.Parse(calls["calls=".Length..], CultureInfo.InvariantCulture);
                }
            }
        }

        return stats;
    }
}
