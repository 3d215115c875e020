using System.Runtime.CompilerServices;

namespace AsyncPatterns.Samples.Pitfalls;

/// <summary>
/// Pitfall 2: calling an async method without awaiting it. The call returns at once, the caller believes it worked,
/// and when the task fails nobody looks: the exception surfaces, if ever, in
/// <see cref="TaskScheduler.UnobservedTaskException"/> when the garbage collector finalizes the task.
/// </summary>
internal static class ForgottenAwait
{
    public static async Task<bool> RunAsync(Scale scale)
    {
        Console.WriteLine();
        Console.WriteLine("2. Forgetting to await");

        var lost = 0;
        void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            Interlocked.Increment(ref lost);
            e.SetObserved();
        }

        TaskScheduler.UnobservedTaskException += OnUnobserved;
        try
        {
            var callerSaw = "no error";
            try
            {
                SaveOrderWithoutAwaiting("order-1");
            }
            catch (IOException e)
            {
                callerSaw = e.Message;
            }

            var wrongLost = await CollectGarbageUntilAsync(() => Volatile.Read(ref lost) > 0, () => Volatile.Read(ref lost));
            Console.WriteLine($"   wrong: _ = SaveOrderAsync(...): the caller saw {callerSaw}; {wrongLost} exception lost, "
                + "seen only by TaskScheduler.UnobservedTaskException after a GC");

            Volatile.Write(ref lost, 0);
            callerSaw = "no error";
            try
            {
                await SaveOrderAsync("order-2");
            }
            catch (IOException e)
            {
                callerSaw = $"{e.GetType().Name} \"{e.Message}\"";
            }

            var rightLost = await CollectGarbageUntilAsync(() => false, () => Volatile.Read(ref lost), rounds: 3);
            Console.WriteLine($"   right: await SaveOrderAsync(...): the caller caught {callerSaw}; {rightLost} exceptions lost");
            return rightLost == 0 && callerSaw != "no error";
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
        }
    }

    private static async Task SaveOrderAsync(string id)
    {
        await Task.Delay(10);
        throw new IOException($"disk full while saving {id}");
    }

    // Wrong: the task is dropped on the floor. (NoInlining keeps it unreachable once this returns, as in real code.)
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void SaveOrderWithoutAwaiting(string id) => _ = SaveOrderAsync(id);

    // Finalizers run only after a collection, so force a few until the condition holds.
    private static async Task<int> CollectGarbageUntilAsync(Func<bool> condition, Func<int> result, int rounds = 80)
    {
        for (var i = 0; i < rounds && !condition(); i++)
        {
            await Task.Delay(25);
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        return result();
    }
}
