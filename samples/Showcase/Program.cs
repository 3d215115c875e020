// The main sample: one end-to-end job that uses every AsyncPatterns namespace together.
//
//   dotnet run --project samples/Showcase                        (500 items, a few seconds, no network)
//   dotnet run --project samples/Showcase -- --failure-rate 0.2  (a flaky server: retries, failures by kind)
//   dotnet run --project samples/Showcase -- --help              (every option)
//
// It starts the demo API on 127.0.0.1 (or uses --base-url), pages through its item list (Pagination), fetches every
// item's details concurrently (Http) under a rate limit (RateLimiting), with retries (Retries) and a timeout per
// attempt, inside a task group (TaskGroups), and saves them in SQLite through a connection pool (Connections), while
// a background task reports progress (BackgroundTasks). Ctrl+C stops it cleanly. At the end it checks, within a time
// limit (Timeouts), the database against what it recorded: every item it saved is there exactly once, and nothing else.
// Exit code: 0 when the job completed and the check passed, 1 on a fault or a failed check, 2 for a bad option,
// 130 after Ctrl+C (when the check passed).
using AsyncPatterns;
using AsyncPatterns.BackgroundTasks;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.Samples.DemoApi;
using AsyncPatterns.Samples.Showcase;
using AsyncPatterns.TaskGroups;
using AsyncPatterns.Timeouts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

ShowcaseOptions options;
try
{
    options = args.Contains("--help") || args.Contains("-h") ? throw new ArgumentException("Options:") : ShowcaseOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(ShowcaseOptions.Usage);
    return 2;
}

var ui = ConsoleUi.Create();

// Ctrl+C cancels the job; the job then finishes what it started, and we report what was saved.
// A second Ctrl+C ends the process at once.
using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = !cancellation.IsCancellationRequested;
    cancellation.Cancel();
};

// 1. The API: the embedded demo API on 127.0.0.1:<free port>, or the one at --base-url.
await using var api = options.BaseUrl is null
    ? await DemoApiServer.StartAsync(
        new DemoApiOptions { ItemCount = options.Items, Latency = options.Latency, FailureRate = options.FailureRate },
        cancellation.Token)
    : null;
var baseAddress = options.BaseUrl ?? api!.BaseAddress;

// 2. The rate limit (RateLimiting), shared by every request to the API, retries included: at most --concurrency in
//    flight and --rate started per second. Its bucket holds a tenth of a second's worth: timer wake-ups are always a
//    little late, and with a bucket of one every late wake-up would be throughput lost for good.
using var limiter = new RequestRateLimiter(new RequestRateLimiterOptions
{
    MaxConcurrency = options.Concurrency,
    PermitsPerSecond = options.Rate,
    Burst = Math.Max(1, (int)(options.Rate / 10)),
});
var stats = new JobStats();
using var http = new HttpClient(new CountingHandler(stats))
{
    BaseAddress = baseAddress,
    Timeout = Timeout.InfiniteTimeSpan, // each attempt has its own timeout (ItemPipeline)
};

// The list pages use a client whose every GetAsync runs the library's per-attempt pipeline: retry outermost, then a
// permit of the same limiter, then the attempt's own --timeout.
var services = new ServiceCollection();
services.AddHttpClient("lists", client => { client.BaseAddress = baseAddress; client.Timeout = Timeout.InfiniteTimeSpan; })
    .ConfigurePrimaryHttpMessageHandler(() => new CountingHandler(stats))
    .AddAttemptPipeline(o =>
    {
        o.Retry = ItemPipeline.RetryOptions(options, stats);
        o.RateLimiter = limiter;
        o.AttemptTimeout = options.Timeout;
    });
await using var provider = services.BuildServiceProvider();
provider.GetRequiredService<IStartupValidator>().Validate();
using var lists = provider.GetRequiredService<IHttpClientFactory>().CreateClient("lists");

// 3. An empty SQLite file outside the source tree, written through a small connection pool (Connections).
var databasePath = Path.Combine(Path.GetTempPath(), "asyncpatterns-showcase", $"items-{Environment.ProcessId}.db");
await using var store = await ItemStore.CreateAsync(databasePath, cancellation.Token);

ui.WriteLine($"AsyncPatterns showcase: {options.Items} items from {baseAddress}"
    + (api is null ? "" : $" (embedded demo API: latency {options.Latency.TotalMilliseconds} ms, failure rate {options.FailureRate * 100:0.#} %)"));
ui.WriteLine($"  {options.Concurrency} at once, at most {options.Rate} requests/s, timeout {options.Timeout.TotalMilliseconds} ms per attempt, "
    + $"retries {options.Retries}; saving to {databasePath}");

// 4. The job, with a background task that reports progress (BackgroundTasks) while it runs.
var pipeline = new ItemPipeline(http, lists, limiter, store, stats, options);
var started = TimeProvider.System.GetTimestamp();
await using var background = new BackgroundTaskTracker();
JobOutcome outcome;
ShutdownReport? backgroundReport = null;
try
{
    outcome = await ui.RunWithProgressAsync(async progress =>
    {
        background.TryStart(token => ReportProgressAsync(progress, token), "progress reporter");
        try
        {
            await pipeline.RunAsync(cancellation.Token);
            return JobOutcome.Completed;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            return JobOutcome.Cancelled;
        }
        finally
        {
            // Stop the reporter (it ends on its token) and show the last state.
            backgroundReport = await background.ShutdownAsync(TimeSpan.FromSeconds(2));
            progress.Report(ProgressSnapshot.Of(stats, TimeProvider.System.GetElapsedTime(started)));
        }
    });
}
catch (TaskGroupException e)
{
    outcome = JobOutcome.Failed;
    foreach (var fault in e.InnerExceptions)
    {
        ui.WriteError($"fault: {fault.GetType().Name}: {fault.Message}");
    }
}

var elapsed = TimeProvider.System.GetElapsedTime(started);

// 5. Check the database against what the job recorded: every saved item exactly once, and nothing else.
// The check is bounded (Timeouts): a locked database file fails it instead of hanging the sample.
var savedIds = await OperationTimeout.RunAsync(store.ReadIdsAsync, TimeSpan.FromSeconds(30));
var verified = savedIds.Count == stats.Saved && savedIds.ToHashSet().SetEquals(stats.SavedIds);
var complete = outcome != JobOutcome.Completed || stats.Done == stats.Listed;

ui.WriteSummary($"Showcase {outcome.ToString().ToLowerInvariant()}", Summary.Rows(stats, elapsed, savedIds.Count, verified, store, api, backgroundReport));
if (outcome == JobOutcome.Cancelled)
{
    ui.WriteLine($"Stopped by Ctrl+C: {stats.Saved} items saved{(verified ? " (each exactly once, checked in SQLite)" : "")}, "
        + $"{stats.Failed} failed, {stats.Listed - stats.Done} listed but not processed.");
}

if (!verified)
{
    ui.WriteError($"The database holds {savedIds.Count} items but the job saved {stats.Saved}.");
}

if (!complete)
{
    ui.WriteError($"{stats.Listed} items were listed but only {stats.Done} were saved or failed.");
}

await store.DisposeAsync();
if (options.KeepDatabase)
{
    ui.WriteLine($"The database is kept at {databasePath}");
}
else
{
    ItemStore.DeleteFiles(databasePath);
}

return !verified || !complete || outcome == JobOutcome.Failed ? 1 : outcome == JobOutcome.Completed ? 0 : 130;

// The background task: refreshes the progress display until its token is cancelled.
async Task ReportProgressAsync(IProgress<ProgressSnapshot> progress, CancellationToken cancellationToken)
{
    using var timer = new PeriodicTimer(ui.ProgressInterval);
    while (await timer.WaitForNextTickAsync(cancellationToken))
    {
        progress.Report(ProgressSnapshot.Of(stats, TimeProvider.System.GetElapsedTime(started)));
    }
}

internal enum JobOutcome
{
    Completed,
    Cancelled,
    Failed,
}
