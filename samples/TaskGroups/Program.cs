// In Python's asyncio, structured downloads with asyncio.TaskGroup:
//
//   async def download_files_structured(urls):
//       async with asyncio.TaskGroup() as tg:
//           tasks = [tg.create_task(download_file(url, f"file_{i}.dat")) for i, url in enumerate(urls)]
//       # All tasks complete or all cancelled if one fails
//       return [task.result() for task in tasks]
//
//   try:
//       results = asyncio.run(download_files_structured(urls))
//   except* Exception as eg:
//       for exc in eg.exceptions:
//           print(f"Task failed: {exc}")
//
// In C#, TaskGroup.RunAsync is the `async with` block, group.Run is tg.create_task, and TaskGroupException (an
// AggregateException holding every fault, in order) is the exception group that except* catches.
//   dotnet run --project samples/TaskGroups   (about 2 s)
using AsyncPatterns.TaskGroups;

var downloadTime = TimeSpan.FromMilliseconds(500); // how long one simulated download takes
var urls = Enumerable.Range(0, 6).Select(i => $"http://example.com/file{i}").ToArray();

// 1. Every download succeeds: RunAsync returns when all have finished, and the results come in the order of the URLs.
Console.WriteLine($"1. {urls.Length} downloads of {downloadTime.TotalSeconds:0.##} s each, all succeed");
var tally = new Tally();
var files = await DownloadFilesStructuredAsync(urls, tally);
Console.WriteLine($"   results: {string.Join(", ", files)}");
Console.WriteLine($"   at most {tally.PeakRunning} running at once");

// 2. One download fails: the group cancels its siblings, and TaskGroupException (the except* group) holds the fault.
Console.WriteLine();
Console.WriteLine("2. file_1.dat fails: the group cancels its siblings and reports the fault");
tally = new Tally(failing: ["file_1.dat"]);
try
{
    await DownloadFilesStructuredAsync(urls, tally);
}
catch (TaskGroupException eg)
{
    foreach (var exc in eg.InnerExceptions)
    {
        Console.WriteLine($"   Task failed: {exc.Message}");
    }
}

Console.WriteLine($"   {tally.Completed} completed, {tally.Cancelled} cancelled");

// 3. Supervisor mode: a failure cancels nothing; every fault is reported together once all children have finished.
Console.WriteLine();
Console.WriteLine("3. Supervisor mode, file_1.dat and file_2.dat fail: nothing is cancelled, every fault is reported together");
tally = new Tally(failing: ["file_1.dat", "file_2.dat"]);
try
{
    await DownloadFilesStructuredAsync(urls, tally, new TaskGroupOptions { Mode = TaskGroupMode.Supervisor });
}
catch (TaskGroupException eg)
{
    foreach (var exc in eg.InnerExceptions)
    {
        Console.WriteLine($"   Task failed: {exc.Message}");
    }
}

Console.WriteLine($"   {tally.Completed} completed, {tally.Cancelled} cancelled");

// The .NET form of Python's download_files_structured: start one child per URL; RunAsync returns when every child has finished,
// and throws TaskGroupException if any failed (the others having been cancelled, in the default fail-fast mode).
async Task<string[]> DownloadFilesStructuredAsync(string[] urls, Tally tally, TaskGroupOptions? options = null)
{
    var tasks = new List<Task<string>>();
    await TaskGroup.RunAsync(group =>
    {
        for (var i = 0; i < urls.Length; i++)
        {
            var (url, filename) = (urls[i], $"file_{i}.dat");
            tasks.Add(group.Run(token => DownloadFileAsync(url, filename, tally, token), filename));
        }

        return Task.CompletedTask;
    }, options);

    return await Task.WhenAll(tasks); // all completed: the results, in order
}

// The .NET form of Python's download_file, with a failure on demand and a trace of what happened to it.
async Task<string> DownloadFileAsync(string url, string filename, Tally tally, CancellationToken cancellationToken)
{
    tally.Started();
    try
    {
        if (tally.Failing.Contains(filename))
        {
            await Task.Delay(downloadTime / 10, cancellationToken);
            throw new HttpRequestException($"{filename}: connection reset while downloading {url}");
        }

        await Task.Delay(downloadTime, cancellationToken); // simulate the download
        Console.WriteLine($"   Downloaded {filename}");
        tally.Complete();
        return filename;
    }
    catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
    {
        Console.WriteLine($"   {filename} cancelled");
        tally.Cancel();
        throw;
    }
    finally
    {
        tally.Stopped();
    }
}

// What happened to the downloads of one run, counted safely from concurrent children.
internal sealed class Tally(params string[] failing)
{
    private int _running;
    private int _peakRunning;
    private int _completed;
    private int _cancelled;

    public IReadOnlySet<string> Failing { get; } = failing.ToHashSet();

    public int PeakRunning => Volatile.Read(ref _peakRunning);

    public int Completed => Volatile.Read(ref _completed);

    public int Cancelled => Volatile.Read(ref _cancelled);

    public void Started()
    {
        var running = Interlocked.Increment(ref _running);
        int peak;
        while (running > (peak = Volatile.Read(ref _peakRunning)) && Interlocked.CompareExchange(ref _peakRunning, running, peak) != peak)
        {
        }
    }

    public void Stopped() => Interlocked.Decrement(ref _running);

    public void Complete() => Interlocked.Increment(ref _completed);

    public void Cancel() => Interlocked.Increment(ref _cancelled);
}
