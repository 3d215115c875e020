// In Python's asyncio, a set of background tasks with a graceful shutdown:
//
//   class BackgroundTasks:
//       def create_task(self, coro):          # track the task, forget it once it is done
//           task = asyncio.create_task(coro)
//           self.tasks.add(task)
//           task.add_done_callback(self.tasks.discard)
//       async def shutdown(self):             # cancel everything, wait for it all
//           for task in self.tasks:
//               task.cancel()
//           await asyncio.gather(*self.tasks, return_exceptions=True)
//
//   async def background_worker(name):
//       try:
//           while True:
//               print(f"{name} working...")
//               await asyncio.sleep(1)
//       except asyncio.CancelledError:
//           print(f"{name} cancelled")
//           raise
//
//   bg_tasks.create_task(background_worker("Worker-1"))
//   bg_tasks.create_task(background_worker("Worker-2"))
//   await asyncio.sleep(5)                    # do main work
//   await bg_tasks.shutdown()
//
// In C#, BackgroundTaskTracker is that set: TryStart runs the work on the thread pool and tracks it until it ends
// (a finished task is released at once), and ShutdownAsync(grace) cancels every task's token, waits up to `grace`,
// and returns a report of what became of each task (completed, cancelled, faulted, or abandoned at the deadline).
//   dotnet run --project samples/BackgroundTasks            (about 3 s)
//   dotnet run --project samples/BackgroundTasks -- --smoke (under a second)
using AsyncPatterns.BackgroundTasks;

if (args.Any(arg => arg != "--smoke"))
{
    Console.Error.WriteLine("usage: BackgroundTasks [--smoke]");
    return 2;
}

var smoke = args.Contains("--smoke");
var beat = TimeSpan.FromMilliseconds(smoke ? 100 : 500); // the Python version's asyncio.sleep(1) between two rounds of work
var cancelled = 0;
var ok = true;

await using var tracker = new BackgroundTaskTracker();

// Start the background workers, and one short job that finishes on its own.
ok &= tracker.TryStart(token => BackgroundWorkerAsync("Worker-1", token), "Worker-1");
ok &= tracker.TryStart(token => BackgroundWorkerAsync("Worker-2", token), "Worker-2");
ok &= tracker.TryStart(async token =>
{
    await Task.Delay(beat, token);
    Console.WriteLine("report-job done");
}, "report-job");

// Do the main work.
await Task.Delay(beat * 5);
var running = tracker.Snapshot();
Console.WriteLine($"Still running: {string.Join(", ", running.Select(task => $"{task.Name} (for {task.Age.TotalSeconds:0.0} s)"))}");

// Graceful shutdown: cancel and wait, at most 2 s.
ShutdownReport report = await tracker.ShutdownAsync(TimeSpan.FromSeconds(2));
Console.WriteLine($"Shutdown in {report.Elapsed.TotalMilliseconds:0} ms: {report}");

Console.WriteLine();
ok &= Check(running.Select(task => task.Name).Order().SequenceEqual(["Worker-1", "Worker-2"]), "the finished job was released; the two workers were tracked");
ok &= Check(report.Cancelled == 2 && cancelled == 2, "shutdown cancelled both workers and each saw its cancellation");
ok &= Check(report.IsClean && tracker.InFlight == 0, "nothing faulted, nothing abandoned, nothing left running");
ok &= Check(!tracker.TryStart(_ => Task.CompletedTask, "late"), "no new work is accepted after shutdown");

Console.WriteLine();
Console.WriteLine(ok ? "BackgroundTasks: OK" : "BackgroundTasks: FAILED");
return ok ? 0 : 1;

// The .NET form of Python's background_worker: works until its token is cancelled, says so, and lets the cancellation propagate.
async Task BackgroundWorkerAsync(string name, CancellationToken cancellationToken)
{
    try
    {
        while (true)
        {
            Console.WriteLine($"{name} working...");
            await Task.Delay(beat, cancellationToken);
        }
    }
    catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
    {
        Console.WriteLine($"{name} cancelled");
        Interlocked.Increment(ref cancelled);
        throw;
    }
}

static bool Check(bool condition, string expectation)
{
    Console.WriteLine($"{(condition ? "ok" : "NOT OK")}: {expectation}");
    return condition;
}
