using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.RateLimiting;
using AsyncPatterns.Redis;
using StackExchange.Redis;

// One process sharing a RedisRateLimiter key with others. Protocol on stdout, one line each:
//   READY            connected, limiter built; waits for "GO" on stdin (so every process starts together)
//   GRANT <µs>       (rate) one permit granted, at the Redis server's time of the script call that granted it
//   GRANTED <n>      (concurrency) acquires granted in all
//   HELD             (hold) the leases are held; the process then waits to be killed
//   DONE             finished; exits 0
// A process whose parent is gone exits by itself after two minutes.
var mode = args[0];
var options = ConfigurationOptions.Parse(args[1]);
options.AbortOnConnectFail = false;
options.ConnectTimeout = 2000;
options.AsyncTimeout = 15000;
options.SyncTimeout = 15000;
var key = args[2];
using var lifetime = new CancellationTokenSource(TimeSpan.FromMinutes(2));
await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(options);
var database = multiplexer.GetDatabase();
var output = Console.Out;

switch (mode)
{
    case "rate":
    {
        // rate <connection> <key> <permits per second> <burst> <seconds> <workers>
        var grants = new ConcurrentQueue<long>();
        await using var limiter = new RedisRateLimiter(new RedisRateLimiterOptions
        {
            ConnectionMultiplexer = multiplexer,
            Key = key,
            PermitsPerSecond = double.Parse(args[3], CultureInfo.InvariantCulture),
            Burst = int.Parse(args[4], CultureInfo.InvariantCulture),
            OperationTimeout = TimeSpan.FromSeconds(15),
            GrantObserver = (nowUs, permits) =>
            {
                for (var p = 0; p < permits; p++)
                {
                    grants.Enqueue(nowUs);
                }
            },
        });
        await ReadyAsync();
        using var run = CancellationTokenSource.CreateLinkedTokenSource(lifetime.Token);
        run.CancelAfter(TimeSpan.FromSeconds(double.Parse(args[5], CultureInfo.InvariantCulture)));
        var workers = Enumerable.Range(0, int.Parse(args[6], CultureInfo.InvariantCulture)).Select(_ => Task.Run(async () =>
        {
            while (!run.IsCancellationRequested)
            {
                try
                {
                    using var lease = await limiter.AcquireAsync(1, run.Token);
                    if (!lease.IsAcquired)
                    {
                        throw new InvalidOperationException("A queued acquire was rejected.");
                    }
                }
                catch (OperationCanceledException) when (run.IsCancellationRequested)
                {
                }
            }
        }));
        await Task.WhenAll(workers);
        foreach (var grant in grants)
        {
            output.WriteLine($"GRANT {grant.ToString(CultureInfo.InvariantCulture)}");
        }

        break;
    }

    case "concurrency":
    {
        // concurrency <connection> <key> <max concurrency> <workers> <rounds>; the holders are counted in Redis itself:
        // <key>:inuse is incremented after a grant and decremented before the release, <key>:most keeps its maximum.
        await using var limiter = new RedisRateLimiter(new RedisRateLimiterOptions
        {
            ConnectionMultiplexer = multiplexer,
            Key = key,
            MaxConcurrency = int.Parse(args[3], CultureInfo.InvariantCulture),
            OperationTimeout = TimeSpan.FromSeconds(15),
        });
        RedisKey[] counters = [$"{key}:inuse", $"{key}:most"];
        const string enter = """
            local n = redis.call('INCR', KEYS[1])
            if n > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], n) end
            return n
            """;
        await ReadyAsync();
        var granted = 0;
        var rounds = int.Parse(args[5], CultureInfo.InvariantCulture);
        var workers = Enumerable.Range(0, int.Parse(args[4], CultureInfo.InvariantCulture)).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            for (var round = 0; round < rounds; round++)
            {
                using var lease = await limiter.AcquireAsync(1, lifetime.Token);
                if (!lease.IsAcquired)
                {
                    throw new InvalidOperationException("A queued acquire was rejected.");
                }

                Interlocked.Increment(ref granted);
                await database.ScriptEvaluateAsync(enter, counters);
                await Task.Delay(random.Next(0, 4), lifetime.Token);
                await database.StringDecrementAsync(counters[0]);
            }
        }));
        await Task.WhenAll(workers);
        output.WriteLine($"GRANTED {granted.ToString(CultureInfo.InvariantCulture)}");
        break;
    }

    case "hold":
    {
        // hold <connection> <key> <max concurrency> <lease ms>: takes every permit (one lease each), then waits to be killed.
        var limit = int.Parse(args[3], CultureInfo.InvariantCulture);
        var limiter = new RedisRateLimiter(new RedisRateLimiterOptions
        {
            ConnectionMultiplexer = multiplexer,
            Key = key,
            MaxConcurrency = limit,
            LeaseTime = TimeSpan.FromMilliseconds(int.Parse(args[4], CultureInfo.InvariantCulture)),
            OperationTimeout = TimeSpan.FromSeconds(15),
        });
        var leases = new List<RateLimitLease>();
        for (var i = 0; i < limit; i++)
        {
            var lease = await limiter.AcquireAsync(1, lifetime.Token);
            if (!lease.IsAcquired)
            {
                throw new InvalidOperationException("The holder could not take its lease.");
            }

            leases.Add(lease);
        }

        output.WriteLine("HELD");
        await Task.Delay(Timeout.Infinite, lifetime.Token);
        GC.KeepAlive(leases);
        GC.KeepAlive(limiter);
        break;
    }

    default:
        throw new ArgumentException($"Unknown mode {mode}.", nameof(args));
}

output.WriteLine("DONE");
return 0;

async Task ReadyAsync()
{
    output.WriteLine("READY");
    var go = await Console.In.ReadLineAsync(lifetime.Token);
    if (go != "GO")
    {
        throw new InvalidOperationException($"Expected GO, read {go ?? "the end of input"}.");
    }
}
