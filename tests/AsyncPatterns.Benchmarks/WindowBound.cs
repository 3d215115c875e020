using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Threading.RateLimiting;
using AsyncPatterns.Redis;
using RedisRateLimiting;
using StackExchange.Redis;
using RedisRateLimiterOptions = AsyncPatterns.Redis.RedisRateLimiterOptions;

namespace AsyncPatterns.Benchmarks;

/// <summary>
/// The window bound, not a speed: <see cref="RedisRateLimiter"/> and the <c>RedisRateLimiting</c> token bucket, both
/// set to 10 permits per second with a burst of 2 (theirs: 2 tokens, 1 added every 100 ms), driven the same way on the
/// same Redis: 8 callers ask as fast as they are answered for 300 ms, then all pause 200–500 ms (a seeded random
/// pause, so the bucket refills between bursts), over and over. For each limiter it prints the grants, the most in any
/// window of the grants' timestamps, and the most permits over R × t + B in any window (0: the bound held).
/// Timestamps: the client's clock when the grant's reply arrived, for both (a window is widened by 5 ms there, against
/// reply jitter); for <see cref="RedisRateLimiter"/> also the Redis server's clock of the script call that granted it
/// (what the tests check). The <c>RedisRateLimiting</c> script is timed by the client's clock, so it has no server
/// time to report.
/// </summary>
/// <remarks>
/// <c>dotnet run -c Release --project tests/AsyncPatterns.Benchmarks -- window-bound [seconds]</c> (ASYNCPATTERNS_REDIS set).
/// </remarks>
internal static class WindowBound
{
    private const double Rate = 10;
    private const int Burst = 2;

    // A window on the client's clock is widened by this margin before it is held to R × t + B, so that replies delayed
    // and delivered together (jitter on a busy machine) do not read as an excess; on the server's clock only the
    // script's 1 µs rounding tolerance is allowed.
    private const double ClientMargin = 0.005;
    private const double ServerMargin = 1e-5;

    public static async Task<int> MainAsync(string[] args)
    {
        var endpoint = Environment.GetEnvironmentVariable("ASYNCPATTERNS_REDIS");
        if (string.IsNullOrEmpty(endpoint))
        {
            Console.Error.WriteLine("Set ASYNCPATTERNS_REDIS (source .ci/redis.sh starts a redis-server and sets it).");
            return 2;
        }

        var seconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 10;
        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(endpoint);
        var run = Guid.NewGuid().ToString("N");

        var serverGrants = new ConcurrentQueue<long>();
        using var ours = new RedisRateLimiter(new RedisRateLimiterOptions
        {
            ConnectionMultiplexer = multiplexer,
            Key = $"window:{run}:ours",
            PermitsPerSecond = Rate,
            Burst = Burst,
            GrantObserver = (nowUs, permits) =>
            {
                for (var p = 0; p < permits; p++)
                {
                    serverGrants.Enqueue(nowUs * 10);
                }
            },
        });
        using var theirs = new RedisTokenBucketRateLimiter<string>($"window:{run}:theirs", new RedisTokenBucketRateLimiterOptions
        {
            ConnectionMultiplexerFactory = () => multiplexer,
            TokenLimit = Burst,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1 / Rate),
        });

        Console.WriteLine($"R = {Rate}/s, B = {Burst}, {seconds} s of 300 ms bursts from 8 callers with 200-500 ms pauses");
        Console.WriteLine("| limiter | clock | grants | most in any 100 ms | most in any 1 s | most permits over R × t + B in a window |");
        Console.WriteLine("|---|---|---|---|---|---|");
        var theirGrants = await DriveAsync(theirs, seconds);
        Report("RedisRateLimiting token bucket", "client (reply), 5 ms margin", theirGrants, ClientMargin);
        var ourGrants = await DriveAsync(ours, seconds);
        Report("RedisRateLimiter", "client (reply), 5 ms margin", ourGrants, ClientMargin);
        Report("RedisRateLimiter", "Redis server (TIME)", [.. serverGrants], ServerMargin);
        return 0;
    }

    /// <summary>Timestamps (ticks, 10⁷ per second) of every grant, on the client's clock when the reply arrived.</summary>
    private static async Task<long[]> DriveAsync(RateLimiter limiter, double seconds)
    {
        var grants = new ConcurrentQueue<long>();
        var random = new Random(21);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            using var burst = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            var callers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
            {
                while (!burst.IsCancellationRequested)
                {
                    using var lease = await limiter.AcquireAsync(1);
                    if (lease.IsAcquired)
                    {
                        grants.Enqueue(clock.Elapsed.Ticks);
                    }
                    else
                    {
                        await Task.Delay(1);
                    }
                }
            }));
            await Task.WhenAll(callers);
            await Task.Delay(random.Next(200, 500));
        }

        return [.. grants];
    }

    private static void Report(string name, string clock, long[] grants, double margin)
    {
        var times = grants.Order().ToArray();
        var most100 = 0;
        var most1000 = 0;
        var over = 0;
        for (var i = 0; i < times.Length; i++)
        {
            for (var j = i; j < times.Length; j++)
            {
                var window = (times[j] - times[i]) / (double)TimeSpan.TicksPerSecond;
                if (window > 2)
                {
                    break;
                }

                var count = j - i + 1;
                if (window < 0.1)
                {
                    most100 = Math.Max(most100, count);
                }

                if (window < 1)
                {
                    most1000 = Math.Max(most1000, count);
                }

                // Whole permits over the bound of the window widened by the clock's margin.
                over = Math.Max(over, count - (int)Math.Floor((Rate * (window + margin)) + Burst));
            }
        }

        Console.WriteLine($"| {name} | {clock} | {times.Length} | {most100} | {most1000} | {over} |");
    }
}
