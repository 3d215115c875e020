using BenchmarkDotNet.Running;

// Pick a class, a pattern or everything:
//   dotnet run -c Release --project tests/AsyncPatterns.Benchmarks -- --filter '*RetryBenchmarks*'
//   dotnet run -c Release --project tests/AsyncPatterns.Benchmarks -- --list flat
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, BenchmarkConfig.Default);
