using AsyncPatterns.BackgroundTasks;
using AsyncPatterns.BackgroundTasks.Internal;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace AsyncPatterns.Tests.BackgroundTasks;

/// <summary>
/// What the tracker does when code it calls but does not own throws: its logger (Microsoft.Extensions.Logging rethrows a
/// failing provider's error as <see cref="AggregateException"/>) and the host's <c>StopApplication</c>. The accounting
/// (the queue, <see cref="BackgroundTaskTracker.InFlight"/>, drains and reports) never depends on them.
/// </summary>
public sealed partial class BackgroundTaskTrackerContainmentTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static BackgroundTaskTrackerOptions OneSlotOneQueued(BackgroundTaskFaultBehavior behavior = BackgroundTaskFaultBehavior.Log) =>
        new() { MaxInFlight = 1, MaxQueued = 1, DefaultGrace = TimeSpan.Zero, FaultBehavior = behavior };

    /// <summary>Starts a task that faults once <paramref name="gate"/> opens, and a queued one behind it that signals when it runs.</summary>
    private static Task StartFaultAndQueuedAsync(BackgroundTaskTracker tracker, Task gate)
    {
        var nextRan = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tracker.TryStart(
            async _ =>
            {
                await gate;
                throw new InvalidOperationException("boom");
            },
            "faulty").Should().BeTrue();
        tracker.TryStart(_ => { nextRan.SetResult(); return Task.CompletedTask; }, "next").Should().BeTrue("the queue has room");
        return nextRan.Task;
    }

    [Fact]
    public async Task TryStart_LoggerThrowsOnAFault_TheNextQueuedTaskRunsAndDrainAsyncCompletes()
    {
        var provider = new ThrowingLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(provider));
        var tracker = new BackgroundTaskTracker(OneSlotOneQueued(), factory.CreateLogger<BackgroundTaskTracker>());
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var nextRan = StartFaultAndQueuedAsync(tracker, gate.Task);

        gate.SetResult();

        await nextRan.WaitAsync(FakeClock.HangTimeout, Ct);
        await tracker.DrainAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);
        tracker.InFlight.Should().Be(0);
        provider.Thrown.Should().BeGreaterThan(0, "the fault was handed to the logger, which threw");
    }

    [Fact]
    public async Task ShutdownAsync_LoggerThrows_StillReturnsTheCompleteReport()
    {
        var provider = new ThrowingLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(provider));
        var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { DefaultGrace = TimeSpan.Zero }, factory.CreateLogger<BackgroundTaskTracker>());
        using var started = new CountdownEvent(2);
        tracker.TryStart(async token => { started.Signal(); await Task.Delay(Timeout.InfiniteTimeSpan, token); }, "cooperative").Should().BeTrue();
        tracker.TryStart(
            async token =>
            {
                started.Signal();
                try
                {
                    await Task.Delay(Timeout.InfiniteTimeSpan, token);
                }
                catch (OperationCanceledException)
                {
                    throw new IOException("flush failed");
                }
            },
            "flusher").Should().BeTrue();
        await FakeClock.WaitUntilAsync(() => started.IsSet, cancellationToken: Ct);

        var report = await tracker.ShutdownAsync(FakeClock.HangTimeout, Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        report.Cancelled.Should().Be(1);
        report.Faulted.Should().ContainSingle().Which.Name.Should().Be("flusher");
        provider.Thrown.Should().BeGreaterThanOrEqualTo(2, "both the fault and the report were handed to the logger, which threw");
        (await tracker.ShutdownAsync(TimeSpan.Zero, Ct)).Should().BeSameAs(report);
    }

    [Fact]
    public async Task TryStart_FaultWithLogAndStopHostAndAThrowingLogger_StillStopsTheApplication()
    {
        using var factory = LoggerFactory.Create(b => b.AddProvider(new ThrowingLoggerProvider()));
        var lifetime = new RecordingLifetime(throwOnStop: false);
        var tracker = new BackgroundTaskTracker(
            OneSlotOneQueued(BackgroundTaskFaultBehavior.LogAndStopHost), factory.CreateLogger<BackgroundTaskTracker>(), timeProvider: null, lifetime);

        tracker.TryStart(_ => throw new InvalidOperationException("fatal"), "critical-job").Should().BeTrue();

        await FakeClock.WaitUntilAsync(() => lifetime.StopCalls == 1, cancellationToken: Ct);
        await tracker.DrainAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);
        tracker.InFlight.Should().Be(0);
    }

    [Fact]
    public async Task TryStart_StopApplicationThrows_LogsItAndTheNextQueuedTaskStillRuns()
    {
        var logger = new FakeLogger<BackgroundTaskTracker>();
        var lifetime = new RecordingLifetime(throwOnStop: true);
        var tracker = new BackgroundTaskTracker(OneSlotOneQueued(BackgroundTaskFaultBehavior.LogAndStopHost), logger, timeProvider: null, lifetime);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var nextRan = StartFaultAndQueuedAsync(tracker, gate.Task);

        gate.SetResult();

        await nextRan.WaitAsync(FakeClock.HangTimeout, Ct);
        await tracker.DrainAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);
        tracker.InFlight.Should().Be(0);
        lifetime.StopCalls.Should().Be(1);
        logger.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == BackgroundTaskLog.StopApplicationFailedId)
            .Which.Exception.Should().BeOfType<InvalidOperationException>().Which.Message.Should().Be("lifetime failed");
    }

    [Fact]
    public async Task DrainAsync_AnotherTaskEndsWhileAFaultIsBeingLogged_CompletesOnlyOnceTheFaultIsLogged()
    {
        using var logger = new BlockingLogger();
        var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = 2, DefaultGrace = TimeSpan.Zero }, logger);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tracker.TryStart(_ => gate.Task, "slow").Should().BeTrue();
        tracker.TryStart(_ => throw new InvalidOperationException("boom"), "faulty").Should().BeTrue();
        await logger.Entered.WaitAsync(FakeClock.HangTimeout, Ct);

        var drain = tracker.DrainAsync(Ct);
        gate.SetResult();
        await FakeClock.WaitUntilAsync(() => tracker.InFlight == 0, cancellationToken: Ct);
        await FakeClock.SettleAsync();

        drain.IsCompleted.Should().BeFalse("the fault of 'faulty' is still being logged");
        logger.Release();
        await drain.WaitAsync(FakeClock.HangTimeout, Ct);
        logger.Logged.Should().ContainSingle().Which.Should().Contain("'faulty'");
    }

    /// <summary>Gives loggers that throw as a failing provider does; Microsoft.Extensions.Logging wraps that in an <see cref="AggregateException"/>.</summary>
    /// <remarks>With <c>onlyCategory</c>, loggers of other categories log nothing (a host's own logging stays intact).</remarks>
    internal sealed class ThrowingLoggerProvider(string? onlyCategory = null) : ILoggerProvider
    {
        private int _thrown;

        public int Thrown => Volatile.Read(ref _thrown);

        public ILogger CreateLogger(string categoryName) =>
            onlyCategory is null || categoryName == onlyCategory ? new ThrowingLogger(this) : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

        public void Dispose()
        {
        }

        private sealed class ThrowingLogger(ThrowingLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                Interlocked.Increment(ref owner._thrown);
                throw new InvalidOperationException("logger provider failed");
            }
        }
    }

    /// <summary>A logger whose first call blocks until <see cref="Release"/>: a slow sink, held at a known point.</summary>
    private sealed class BlockingLogger : ILogger<BackgroundTaskTracker>, IDisposable
    {
        private readonly ManualResetEventSlim _release = new();
        private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _logged = new();

        public Task Entered => _entered.Task;

        public IReadOnlyCollection<string> Logged => _logged;

        public void Release() => _release.Set();

        public void Dispose()
        {
            _release.Set();
            _release.Dispose();
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            _entered.TrySetResult();
            _release.Wait(FakeClock.HangTimeout);
            _logged.Enqueue(formatter(state, exception));
        }
    }

    private sealed class RecordingLifetime(bool throwOnStop) : IHostApplicationLifetime
    {
        private int _stopCalls;

        public int StopCalls => Volatile.Read(ref _stopCalls);

        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication()
        {
            Interlocked.Increment(ref _stopCalls);
            if (throwOnStop)
            {
                throw new InvalidOperationException("lifetime failed");
            }
        }
    }
}
