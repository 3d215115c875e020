using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using AsyncPatterns.Internal;
using AsyncPatterns.Timeouts;
using Microsoft.Extensions.Logging;

namespace AsyncPatterns.Tests.Timeouts;

/// <summary>Values at the limits, null tasks, late values and throwing loggers.</summary>
public sealed partial class OperationTimeoutTests
{
    public static TheoryData<string, double> TimeoutsBeyondTheTimerLimit => new()
    {
        { "RunAsync<T>", 50 },
        { "RunAsync", 50 },
        { "TryRunAsync", 50 },
        { "RunDetachedAsync<T>", 50 },
        { "RunDetachedAsync", 50 },
        { "RunAsync<T>", TimeSpan.MaxValue.TotalDays },
        { "TryRunAsync", TimeSpan.MaxValue.TotalDays },
        { "RunDetachedAsync<T>", TimeSpan.MaxValue.TotalDays },
    };

    [Theory]
    [MemberData(nameof(TimeoutsBeyondTheTimerLimit))]
    public void AnyOverload_TimeoutBeyondTheTimerLimit_ThrowsArgumentOutOfRangeNamingTimeoutSynchronously(string overload, double days)
    {
        var timeout = days >= TimeSpan.MaxValue.TotalDays ? TimeSpan.MaxValue : TimeSpan.FromDays(days);
        var called = false;

        Action act = () => _ = Invoke(overload, _ => { called = true; return Task.FromResult(1); }, timeout);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("timeout");
        called.Should().BeFalse("a rejected call never starts the operation");
    }

    [Theory]
    [MemberData(nameof(AllOverloads))]
    public async Task AnyOverload_TimeoutAtTheTimerLimit_IsAcceptedAndDoesNotFireEarly(string overload)
    {
        var clock = FakeClock.Create();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = InvokeOnClock(overload, _ => gate.Task, TimerLimits.MaxDueTime, clock);

        await clock.AdvanceAsync(TimerLimits.MaxDueTime - TimeSpan.FromMilliseconds(1));
        task.IsCompleted.Should().BeFalse();
        gate.SetResult(7);
        await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken);
    }

    public static TheoryData<string, bool> OverloadsWithAndWithoutTimeout()
    {
        var data = new TheoryData<string, bool>();
        foreach (var overload in AllOverloads)
        {
            data.Add(overload, false);
            data.Add(overload, true);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(OverloadsWithAndWithoutTimeout))]
    public async Task AnyOverload_OperationReturnsNullTask_ThrowsInvalidOperationExceptionSayingSo(string overload, bool infinite)
    {
#pragma warning disable VSTHRD114 // The null task is the point of the test.
        var task = InvokeOnClock(overload, _ => null!, infinite ? Timeout.InfiniteTimeSpan : OneSecond, FakeClock.Create());
#pragma warning restore VSTHRD114

        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<InvalidOperationException>();
        ex.Which.Message.Should().Contain("operation").And.Contain("null Task");
    }

    [Fact]
    public async Task TryRunAsync_ValueArrivesAfterTheTimeoutFired_ReportsTimedOutNotCompleted()
    {
        var clock = FakeClock.Create();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = OperationTimeout.TryRunAsync(_ => gate.Task, OneSecond, clock, TestContext.Current.CancellationToken);

        await clock.AdvanceAsync(TimeSpan.FromSeconds(5));
        task.IsCompleted.Should().BeFalse("the cooperative form waits for the operation");
        gate.SetResult(42);

        var result = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken);
        result.Completed.Should().BeFalse("the value came 4 s after the timeout fired");
        result.TimedOut.Should().BeTrue();
        result.Elapsed.Should().Be(TimeSpan.FromSeconds(5));
        result.TryGetValue(out var value).Should().BeFalse();
        value.Should().Be(0);
    }

    [Fact]
    public async Task TryRunAsync_ValueArrivesJustBeforeTheTimeout_ReportsCompleted()
    {
        var clock = FakeClock.Create();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = OperationTimeout.TryRunAsync(_ => gate.Task, OneSecond, clock, TestContext.Current.CancellationToken);

        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(999));
        gate.SetResult(42);

        var result = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken);
        result.Completed.Should().BeTrue();
        result.Value.Should().Be(42);
        result.Elapsed.Should().Be(TimeSpan.FromMilliseconds(999));
    }

    [Fact]
    public async Task TryRunAsync_CallerCancelsAndOperationStillReturnsAValue_ReportsCompleted()
    {
        // Only the timeout makes a late value "timed out": a caller's cancellation that the operation ignored is not a timeout.
        var clock = FakeClock.Create();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = OperationTimeout.TryRunAsync(_ => gate.Task, OneSecond, clock, cts.Token);

        await cts.CancelAsync();
        gate.SetResult(42);

        var result = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken);
        result.Completed.Should().BeTrue();
        result.Value.Should().Be(42);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RunDetachedAsync_CallerAlreadyCancelledAndOperationThrowsCanceledSynchronously_SurfacesTheCallersToken(bool generic)
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        Func<CancellationToken, Task<int>> operation = ct =>
        {
            ct.ThrowIfCancellationRequested();
            return Task.FromResult(1);
        };

        var task = generic
            ? OperationTimeout.RunDetachedAsync(operation, OneSecond, timeProvider: FakeClock.Create(), cancellationToken: cts.Token)
            : OperationTimeout.RunDetachedAsync(ct => (Task)operation(ct), OneSecond, timeProvider: FakeClock.Create(), cancellationToken: cts.Token);

        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationCanceledException>();
        ex.Which.CancellationToken.Should().Be(cts.Token);
    }

    [Fact]
    public async Task RunDetachedAsync_OperationThrowsCanceledSynchronouslyBeforeAnyCancellation_PropagatesItUnchanged()
    {
        // The same synchronous path with neither token cancelled: nothing to translate.
        var clock = FakeClock.Create();
        var task = OperationTimeout.RunDetachedAsync<int>(
            _ => throw new OperationCanceledException("refused"),
            OneSecond,
            timeProvider: clock,
            cancellationToken: TestContext.Current.CancellationToken);

        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationCanceledException>();
        ex.Which.Should().NotBeOfType<OperationTimeoutException>("the timeout had not fired; the operation's own cancellation propagates");
        ex.Which.Message.Should().Be("refused");
    }

    [Fact]
    public async Task RunDetachedAsync_LoggerThrowsWhileLoggingALateFault_RaisesNoUnobservedTaskException()
    {
        var marker = "logger-" + Guid.NewGuid().ToString("N");
        var unobserved = new ConcurrentQueue<Exception>();
        void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            if (e.Exception.Flatten().InnerExceptions.Any(x => x.ToString().Contains(marker, StringComparison.Ordinal)))
            {
                unobserved.Enqueue(e.Exception);
            }
        }

        var logger = new ThrowingLogger(marker);
        TaskScheduler.UnobservedTaskException += OnUnobserved;
        try
        {
            await AbandonAndFailLateAsync(logger);
            await FakeClock.WaitUntilAsync(() => Volatile.Read(ref logger.Calls) == 3, cancellationToken: TestContext.Current.CancellationToken);
            await FakeClock.SettleAsync();
            for (var i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
        }

        unobserved.Should().BeEmpty("a throwing logger's failure is contained, never an unobserved task exception");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task AbandonAndFailLateAsync(ILogger logger)
    {
        for (var i = 0; i < 3; i++)
        {
            var clock = FakeClock.Create();
            var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            var task = OperationTimeout.RunDetachedAsync(_ => gate.Task, OneSecond, logger, clock, TestContext.Current.CancellationToken);
            await clock.AdvanceAsync(OneSecond);
            await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
                .Awaiting(t => t).Should().ThrowAsync<OperationTimeoutException>();
            gate.SetException(new IOException("late"));
        }
    }

    private static Task InvokeOnClock(string overload, Func<CancellationToken, Task<int>> operation, TimeSpan timeout, TimeProvider clock)
    {
        var ct = TestContext.Current.CancellationToken;
        return overload switch
        {
            "RunAsync<T>" => OperationTimeout.RunAsync(operation, timeout, clock, ct),
            "RunAsync" => OperationTimeout.RunAsync(c => (Task)operation(c), timeout, clock, ct),
            "TryRunAsync" => OperationTimeout.TryRunAsync(operation, timeout, clock, ct),
            "RunDetachedAsync<T>" => OperationTimeout.RunDetachedAsync(operation, timeout, null, clock, ct),
            "RunDetachedAsync" => OperationTimeout.RunDetachedAsync(c => (Task)operation(c), timeout, null, clock, ct),
            _ => throw new ArgumentOutOfRangeException(nameof(overload)),
        };
    }

    /// <summary>A logger whose sink fails, the way Microsoft.Extensions.Logging surfaces a failing provider.</summary>
    private sealed class ThrowingLogger(string marker) : ILogger
    {
        public int Calls;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            Interlocked.Increment(ref Calls);
            throw new AggregateException(new InvalidOperationException(marker));
        }
    }
}
