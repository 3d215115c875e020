using AsyncPatterns.Benchmarks;
using BenchmarkDotNet.Running;

// Pick a class, a pattern or everything:
//   dotnet run -c Release --project tests/AsyncPatterns.Benchmarks -- --filter '*RetryBenchmarks*'
//   dotnet run -c Release --project tests/AsyncPatterns.Benchmarks -- --list flat
// The fetcher's cost per request against a server in another process (see fetch-cost.sh):
//   dotnet run -c Release --project tests/AsyncPatterns.Benchmarks -- fetch-cost run --variant fetch-all --concurrency 16 --base http://127.0.0.1:8080/
// The most grants in any window, RedisRateLimiter against the RedisRateLimiting token bucket (ASYNCPATTERNS_REDIS set):
//   dotnet run -c Release --project tests/AsyncPatterns.Benchmarks -- window-bound 10
if (args.Length > 0 && args[0] == "window-bound")
{
    return await WindowBound.MainAsync(args);
}

// Total grants per second and round trips per grant from 1, 2 and 3 processes sharing one key (ASYNCPATTERNS_REDIS set):
//   dotnet run -c Release --project tests/AsyncPatterns.Benchmarks -- throughput 3 3
if (args.Length > 0 && args[0] == "throughput")
{
    return await Throughput.MainAsync(args);
}

if (args.Length > 0 && args[0] == "throughput-worker")
{
    return await Throughput.WorkerAsync(args);
}

if (args.Length > 0 && args[0] == "fetch-cost")
{
    return await FetchCost.MainAsync(args);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, BenchmarkConfig.Default);
return 0;
