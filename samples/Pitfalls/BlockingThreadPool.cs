namespace AsyncPatterns.Samples.Pitfalls;

/// <summary>
/// Pitfall 1: blocking a thread-pool thread inside async code (<c>time.sleep</c> in a Python coroutine).
/// Every blocked thread is one the rest of the app cannot use: timers, request handlers and continuations queue
/// behind the blocked work. A heartbeat measures how late the app answers while the work runs.
/// </summary>
internal static class BlockingThreadPool
{
    private static readonly TimeSpan s_beat = TimeSpan.FromMilliseconds(20);

    public static async Task<bool> RunAsync(Scale scale)
    {
        Console.WriteLine();
        Console.WriteLine("1. Blocking the thread pool");

        // A small pool, as on a busy 2-core server, so the effect shows at once; restored afterwards.
        ThreadPool.GetMinThreads(out var minWorkers, out var minIo);
        ThreadPool.GetMaxThreads(out var maxWorkers, out var maxIo);
        var cap = Environment.ProcessorCount * 2;
        ThreadPool.SetMinThreads(Environment.ProcessorCount, minIo);
        ThreadPool.SetMaxThreads(cap, maxIo);
        try
        {
            Console.WriteLine($"   {scale.WorkItems} requests, each waiting {scale.WorkDuration.TotalMilliseconds:F0} ms for I/O, "
                + $"on a {cap}-thread pool, with a {s_beat.TotalMilliseconds:F0} ms heartbeat");
            var wrong = await MeasureAsync(() => HandleBlockingAsync(scale.WorkDuration), scale.WorkItems);
            Report("wrong: Thread.Sleep inside async code", wrong);
            var right = await MeasureAsync(() => HandleAsync(scale.WorkDuration), scale.WorkItems);
            Report("right: await Task.Delay              ", right);
            return right.WorstLateness < wrong.WorstLateness && right.Elapsed < wrong.Elapsed;
        }
        finally
        {
            ThreadPool.SetMaxThreads(maxWorkers, maxIo);
            ThreadPool.SetMinThreads(minWorkers, minIo);
        }
    }

    // Wrong: the thread sleeps (think: a synchronous driver call, File.ReadAllText on a slow share) and nobody else can use it.
    private static async Task HandleBlockingAsync(TimeSpan ioTime)
    {
        await Task.Yield();
        Thread.Sleep(ioTime);
    }

    // Right: the wait is asynchronous; the thread goes back to the pool until the I/O completes.
    private static async Task HandleAsync(TimeSpan ioTime)
    {
        await Task.Yield();
        await Task.Delay(ioTime);
    }

    private static void Report(string label, Measurement m) =>
        Console.WriteLine($"   {label}: all done in {m.Elapsed.TotalMilliseconds,5:F0} ms; meanwhile {m.Beats,3} heartbeats "
            + $"of {m.Elapsed / s_beat,3:F0} expected, the worst {m.WorstLateness.TotalMilliseconds,4:F0} ms late");

    private static async Task<Measurement> MeasureAsync(Func<Task> handler, int requests)
    {
        var heartbeat = new Heartbeat(s_beat);
        await Task.Delay(s_beat * 3); // a few beats on an idle pool first
        var beatsBefore = heartbeat.Beats;
        var started = TimeProvider.System.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, requests).Select(_ => handler()));
        var elapsed = TimeProvider.System.GetElapsedTime(started);
        var beats = heartbeat.Beats - beatsBefore;
        await Task.Delay(s_beat * 2); // let the last late beat land
        await heartbeat.DisposeAsync();
        return new Measurement(elapsed, beats, heartbeat.WorstLateness);
    }

    private sealed record Measurement(TimeSpan Elapsed, int Beats, TimeSpan WorstLateness);
}
