namespace AsyncPatterns.BackgroundTasks.Internal;

/// <summary>
/// One unit of work in a <see cref="BackgroundTaskTracker"/>: queued, then running (linked into the tracker's running
/// list), then released. Runs itself on the thread pool under the execution context captured when it was admitted.
/// </summary>
internal sealed class TrackedTask : IThreadPoolWorkItem
{
    private static readonly ContextCallback s_start = static state => ((TrackedTask)state!).Start();

    private readonly BackgroundTaskTracker _tracker;
    private readonly ExecutionContext? _context;

    public TrackedTask(BackgroundTaskTracker tracker, Func<CancellationToken, Task> work, string name)
    {
        _tracker = tracker;
        Work = work;
        Name = name;
        _context = ExecutionContext.Capture();
    }

    public Func<CancellationToken, Task>? Work { get; set; }

    public string Name { get; }

    public long StartedTimestamp { get; set; }

    /// <summary>Set under the tracker's lock when a shutdown stopped waiting for this task.</summary>
    public bool Abandoned { get; set; }

    /// <summary>The running list's links (under the tracker's lock).</summary>
    public TrackedTask? Previous { get; set; }

    /// <summary>The running list's links (under the tracker's lock).</summary>
    public TrackedTask? Next { get; set; }

    public void Launch() => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);

    void IThreadPoolWorkItem.Execute()
    {
        if (_context is null)
        {
            Start();
        }
        else
        {
            ExecutionContext.Run(_context, s_start, this);
        }
    }

    // RunAsync never throws and reports every outcome to the tracker, which counts this task until it ends.
    private void Start() => _ = _tracker.RunAsync(this);
}
