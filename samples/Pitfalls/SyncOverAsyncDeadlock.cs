namespace AsyncPatterns.Samples.Pitfalls;

/// <summary>
/// Pitfall 3: blocking on async code (<c>.Result</c>, <c>.Wait()</c>, <c>GetAwaiter().GetResult()</c>) on a thread
/// with a single-threaded synchronization context. The awaited method's continuation is queued to that very thread,
/// which is blocked waiting for it: a deadlock. The demo detects it with a timeout instead of hanging.
/// </summary>
internal static class SyncOverAsyncDeadlock
{
    public static async Task<bool> RunAsync(Scale scale)
    {
        Console.WriteLine();
        Console.WriteLine("3. Sync-over-async under a single-threaded context (UI thread, classic ASP.NET)");

        // Wrong: a synchronous event handler blocks on an async method.
        var (context, completion) = SingleThreadedSynchronizationContext.Start(() =>
        {
            var settings = LoadSettingsAsync().Result;
            return Task.CompletedTask;
        });
        var deadlocked = await Task.WhenAny(completion, Task.Delay(scale.DeadlockTimeout)) != completion;
        if (deadlocked)
        {
            Console.WriteLine($"   wrong: LoadSettingsAsync().Result: deadlocked, no progress in {scale.DeadlockTimeout.TotalMilliseconds:F0} ms "
                + $"({context.Pending} continuation stuck in the queue of the blocked thread)");
            context.RunPendingOnCurrentThread(); // break the deadlock from outside so the demo can go on
        }
        else
        {
            Console.WriteLine("   wrong: LoadSettingsAsync().Result: completed (no deadlock this time)");
        }

        await completion.WaitAsync(scale.DeadlockTimeout);

        // Right: async all the way up; the thread stays free to run the continuation.
        var started = TimeProvider.System.GetTimestamp();
        (_, completion) = SingleThreadedSynchronizationContext.Start(async () =>
        {
            var settings = await LoadSettingsAsync();
        });
        var finished = await Task.WhenAny(completion, Task.Delay(scale.DeadlockTimeout)) == completion;
        Console.WriteLine(finished
            ? $"   right: await LoadSettingsAsync(): completed in {TimeProvider.System.GetElapsedTime(started).TotalMilliseconds:F0} ms"
            : $"   right: await LoadSettingsAsync(): did not complete in {scale.DeadlockTimeout.TotalMilliseconds:F0} ms");
        return finished;
    }

    // An ordinary async method: its await captures the caller's context and resumes on it.
    // (Library code adds ConfigureAwait(false), which avoids this deadlock but not the blocked thread.)
    private static async Task<string> LoadSettingsAsync()
    {
        await Task.Delay(50);
        return "theme=dark";
    }
}
