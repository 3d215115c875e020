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
//   dotnet run --project samples/BackgroundTasks   (about 3 s)
using AsyncPatterns.BackgroundTasks;

// The pause between two rounds of a worker's work (the Python version's asyncio.sleep(1)); short, to keep the sample quick.
var beat = TimeSpan.FromMilliseconds(500);

await using var tracker = new BackgroundTaskTracker();

// 1. Start two background workers and one short job that finishes on its own. TryStart says whether the work was accepted.
Console.WriteLine("1. Starting the background tasks");
Console.WriteLine($"   Worker-1 accepted: {tracker.TryStart(token => BackgroundWorkerAsync("Worker-1", token), "Worker-1")}");
Console.WriteLine($"   Worker-2 accepted: {tracker.TryStart(token => BackgroundWorkerAsync("Worker-2", token), "Worker-2")}");
var reportJobAccepted = tracker.TryStart(async token =>
{
    await Task.Delay(beat, token);
    Console.WriteLine("   report-job done");
}, "report-job");
Console.WriteLine($"   report-job accepted: {reportJobAccepted}");

// 2. Do the main work. The finished job is no longer tracked: only what still runs is.
await Task.Delay(beat * 5);
var running = tracker.Snapshot().OrderBy(task => task.Name, StringComparer.Ordinal);
Console.WriteLine();
Console.WriteLine("2. After the main work");
Console.WriteLine($"   still running: {string.Join(", ", running.Select(task => task.Name))}");

// 3. Graceful shutdown: cancel every task's token and wait for them, at most 2 s; the report says what became of each.
Console.WriteLine();
Console.WriteLine("3. Shutdown");
ShutdownReport report = await tracker.ShutdownAsync(TimeSpan.FromSeconds(2));
Console.WriteLine($"   report: {report}");
Console.WriteLine($"   clean (nothing faulted or abandoned): {report.IsClean}; still in flight: {tracker.InFlight}");

// 4. After shutdown the tracker accepts no new work.
Console.WriteLine();
Console.WriteLine("4. After shutdown");
Console.WriteLine($"   late job accepted: {tracker.TryStart(_ => Task.CompletedTask, "late")}");

// The .NET form of Python's background_worker: works until its token is cancelled, says so, and lets the cancellation propagate.
async Task BackgroundWorkerAsync(string name, CancellationToken cancellationToken)
{
    try
    {
        while (true)
        {
            Console.WriteLine($"   {name} working...");
            await Task.Delay(beat, cancellationToken);
        }
    }
    catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
    {
        Console.WriteLine($"   {name} cancelled");
        throw;
    }
}
