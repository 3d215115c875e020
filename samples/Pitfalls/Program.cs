// The five classic async pitfalls, each run the wrong way and then the right way, with the effect measured.
//   dotnet run --project samples/Pitfalls            (about 10 seconds)
//   dotnet run --project samples/Pitfalls -- --smoke (small sizes, a few seconds)
using AsyncPatterns.Samples.Pitfalls;

var smoke = args.Contains("--smoke");
var unknown = args.Where(arg => arg != "--smoke").ToArray();
if (unknown.Length > 0)
{
    Console.Error.WriteLine($"Unknown option {unknown[0]}. usage: Pitfalls [--smoke]");
    return 2;
}

var scale = smoke ? Scale.Smoke : Scale.Full;
var started = TimeProvider.System.GetTimestamp();

// Each returns false only if the right way failed to avoid the pitfall: the wrong way's effect is expected.
bool[] results =
[
    await BlockingThreadPool.RunAsync(scale),
    await ForgottenAwait.RunAsync(scale),
    await SyncOverAsyncDeadlock.RunAsync(scale),
    await CleanupOnCancellation.RunAsync(scale),
    await UnboundedConcurrency.RunAsync(scale),
];

var failed = results.Count(ok => !ok);
Console.WriteLine();
Console.WriteLine($"{results.Length - failed} of {results.Length} pitfalls avoided by the right version, in {TimeProvider.System.GetElapsedTime(started).TotalSeconds:F1} s.");
return failed == 0 ? 0 : 1;
