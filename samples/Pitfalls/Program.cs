// The five classic async pitfalls, each run the wrong way and then the right way, with the effect measured.
// Each pitfall prints both measurements and a verdict: whether the right way avoided what the wrong way ran into.
//   dotnet run --project samples/Pitfalls   (a few seconds)
using AsyncPatterns.Samples.Pitfalls;

// The sizes are small to keep the run short (Scale.cs).
var scale = Scale.Default;
var started = TimeProvider.System.GetTimestamp();
var avoided = 0;

// 1. Blocking the thread pool: Thread.Sleep against await Task.Delay, measured by a heartbeat's lateness.
Verdict(await BlockingThreadPool.RunAsync(scale));

// 2. Forgetting to await: the exception is lost, against awaited and observed.
Verdict(await ForgottenAwait.RunAsync(scale));

// 3. Sync-over-async under a single-threaded context: .Result deadlocks, await does not.
Verdict(await SyncOverAsyncDeadlock.RunAsync(scale));

// 4. Skipping cleanup on cancellation: connections leak, against `await using`.
Verdict(await CleanupOnCancellation.RunAsync(scale));

// 5. Unbounded concurrency: the server answers 503, against a SemaphoreSlim bound.
Verdict(await UnboundedConcurrency.RunAsync(scale));

Console.WriteLine();
Console.WriteLine($"{avoided} of 5 pitfalls avoided by the right way, in {TimeProvider.System.GetElapsedTime(started).TotalSeconds:F1} s.");

void Verdict(bool rightWayAvoidedIt)
{
    avoided += rightWayAvoidedIt ? 1 : 0;
    Console.WriteLine(rightWayAvoidedIt
        ? "   verdict: the right way avoided the pitfall"
        : "   verdict: the right way did not avoid the pitfall this time");
}
