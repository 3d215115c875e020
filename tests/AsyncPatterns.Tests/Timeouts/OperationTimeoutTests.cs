using AsyncPatterns.Timeouts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace AsyncPatterns.Tests.Timeouts;

public sealed class OperationTimeoutTests
{
    private static readonly TimeSpan OneSecond = TimeSpan.FromSeconds(1);

    /// <summary>An operation that honours its token: completes only when it is cancelled.</summary>
    private static Task<int> WaitForCancellation(CancellationToken ct)
    {
        var tcs = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        ct.Register(() => tcs.TrySetCanceled(ct));
        return tcs.Task;
    }

    [Fact]
    public async Task RunAsync_OperationHonoursToken_FiresAtExactlyTheTimeout()
    {
        var clock = FakeClock.Create();
        var task = OperationTimeout.RunAsync(WaitForCancellation, OneSecond, clock, TestContext.Current.CancellationToken);

        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(999));
        task.IsCompleted.Should().BeFalse();

        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(1));
        await FakeClock.WaitUntilAsync(() => task.IsCompleted, cancellationToken: TestContext.Current.CancellationToken);
        var ex = await task.Awaiting(t => t).Should().ThrowAsync<OperationTimeoutException>();
        ex.Which.Timeout.Should().Be(OneSecond);
        ex.Which.Elapsed.Should().Be(OneSecond);
        ex.Which.InnerException.Should().BeAssignableTo<OperationCanceledException>();
        ex.Which.Should().BeAssignableTo<TimeoutException>();
    }

    [Fact]
    public async Task RunAsync_CompletesBeforeTimeout_ReturnsValue()
    {
        var clock = FakeClock.Create();
        var result = await OperationTimeout.RunAsync(_ => Task.FromResult(42), OneSecond, clock, TestContext.Current.CancellationToken);
        result.Should().Be(42);
    }

    [Fact]
    public async Task RunAsync_CallerCancels_ThrowsOperationCanceledWithCallersToken()
    {
        var clock = FakeClock.Create();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var task = OperationTimeout.RunAsync(WaitForCancellation, OneSecond, clock, cts.Token);
        task.IsCompleted.Should().BeFalse();

        await cts.CancelAsync();

        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationCanceledException>();
        ex.Which.Should().NotBeOfType<OperationTimeoutException>();
        ex.Which.CancellationToken.Should().Be(cts.Token);
    }

    [Fact]
    public async Task RunAsync_CallerCancelsWhenTimeoutAlsoFired_CallerCancellationWins()
    {
        var clock = FakeClock.Create();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = OperationTimeout.RunAsync<int>(
            async ct =>
            {
                await gate.Task;
                ct.ThrowIfCancellationRequested();
                return 1;
            },
            OneSecond,
            clock,
            cts.Token);

        await clock.AdvanceAsync(OneSecond); // the timeout fires, the operation does not look yet
        await cts.CancelAsync();             // and the caller cancels too
        gate.SetResult();

        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationCanceledException>();
        ex.Which.Should().NotBeOfType<OperationTimeoutException>();
        ex.Which.CancellationToken.Should().Be(cts.Token);
    }

    [Fact]
    public async Task RunAsync_OperationIgnoresToken_IsStillAwaitedAndItsValueReturned()
    {
        var clock = FakeClock.Create();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = OperationTimeout.RunAsync(_ => gate.Task, OneSecond, clock, TestContext.Current.CancellationToken);

        await clock.AdvanceAsync(TimeSpan.FromSeconds(5));
        task.IsCompleted.Should().BeFalse("a cooperative timeout waits for the operation to end");

        gate.SetResult(7);
        (await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)).Should().Be(7);
    }

    [Fact]
    public async Task RunAsync_OperationThrows_ExceptionPropagatesUnchanged()
    {
        var clock = FakeClock.Create();
        var boom = new InvalidOperationException("boom");
        var act = () => OperationTimeout.RunAsync<int>(_ => Task.FromException<int>(boom), OneSecond, clock, TestContext.Current.CancellationToken);
        (await act.Should().ThrowAsync<InvalidOperationException>()).Which.Should().BeSameAs(boom);
    }

    [Fact]
    public async Task RunAsync_InfiniteTimeout_NeverFiresAndPassesCallersToken()
    {
        var clock = FakeClock.Create();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        CancellationToken seen = default;
        var task = OperationTimeout.RunAsync(
            ct =>
            {
                seen = ct;
                return WaitForCancellation(ct);
            },
            Timeout.InfiniteTimeSpan,
            clock,
            cts.Token);

        await clock.AdvanceAsync(TimeSpan.FromDays(365));
        task.IsCompleted.Should().BeFalse();
        seen.Should().Be(cts.Token);

        await cts.CancelAsync();
        await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationCanceledException>();
    }

    [Fact]
    public async Task RunAsync_NonGeneric_TimesOutAtTheTimeout()
    {
        var clock = FakeClock.Create();
        var task = OperationTimeout.RunAsync(ct => (Task)WaitForCancellation(ct), TimeSpan.FromSeconds(2), clock, TestContext.Current.CancellationToken);

        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(1999));
        task.IsCompleted.Should().BeFalse();
        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(1));

        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationTimeoutException>();
        ex.Which.Timeout.Should().Be(TimeSpan.FromSeconds(2));
    }

    [Fact]
    public void RunAsync_NullOperation_ThrowsArgumentNullException()
    {
        Action act = () => _ = OperationTimeout.RunAsync((Func<CancellationToken, Task<int>>)null!, OneSecond);
        act.Should().Throw<ArgumentNullException>().WithParameterName("operation");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(-2)]
    public void RunAsync_ZeroOrNegativeTimeout_ThrowsArgumentOutOfRangeSynchronously(int milliseconds)
    {
        var timeout = TimeSpan.FromMilliseconds(milliseconds);
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            timeout = TimeSpan.FromTicks(-1);
        }

        Action act = () => _ = OperationTimeout.RunAsync(_ => Task.FromResult(1), timeout);
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("timeout");
        Action actTry = () => _ = OperationTimeout.TryRunAsync(_ => Task.FromResult(1), timeout);
        actTry.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("timeout");
        Action actDetached = () => _ = OperationTimeout.RunDetachedAsync(_ => Task.FromResult(1), timeout);
        actDetached.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("timeout");
    }

    [Fact]
    public async Task TryRunAsync_TimeoutFires_ReturnsTimedOutResult()
    {
        var clock = FakeClock.Create();
        var task = OperationTimeout.TryRunAsync(WaitForCancellation, OneSecond, clock, TestContext.Current.CancellationToken);

        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(999));
        task.IsCompleted.Should().BeFalse();
        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(1));

        var result = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken);
        result.TimedOut.Should().BeTrue();
        result.Completed.Should().BeFalse();
        result.Elapsed.Should().Be(OneSecond);
        result.TryGetValue(out _).Should().BeFalse();
        var read = () => result.Value;
        read.Should().Throw<InvalidOperationException>();
    }

    [Fact]
    public async Task TryRunAsync_Completes_ReturnsValue()
    {
        var clock = FakeClock.Create();
        var result = await OperationTimeout.TryRunAsync(_ => Task.FromResult("ok"), OneSecond, clock, TestContext.Current.CancellationToken);
        result.Completed.Should().BeTrue();
        result.Value.Should().Be("ok");
        result.TryGetValue(out var value).Should().BeTrue();
        value.Should().Be("ok");
    }

    [Fact]
    public async Task TryRunAsync_CallerCancels_ThrowsOperationCanceled()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var task = OperationTimeout.TryRunAsync(WaitForCancellation, OneSecond, FakeClock.Create(), cts.Token);
        await cts.CancelAsync();
        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationCanceledException>();
        ex.Which.CancellationToken.Should().Be(cts.Token);
    }

    [Fact]
    public async Task RunDetachedAsync_OperationIgnoresToken_StopsWaitingAtTheDeadlineAndLogsTheOrphansLaterFailure()
    {
        var clock = FakeClock.Create();
        var logger = new FakeLogger();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = OperationTimeout.RunDetachedAsync(_ => gate.Task, OneSecond, logger, clock, TestContext.Current.CancellationToken);

        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(999));
        task.IsCompleted.Should().BeFalse();
        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(1));

        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationTimeoutException>();
        ex.Which.Elapsed.Should().Be(OneSecond);
        gate.Task.IsCompleted.Should().BeFalse("the orphan is still running");
        logger.Collector.Count.Should().Be(0);

        var late = new InvalidOperationException("late failure");
        gate.SetException(late);

        await FakeClock.WaitUntilAsync(() => logger.Collector.Count > 0, cancellationToken: TestContext.Current.CancellationToken);
        var record = logger.LatestRecord;
        record.Level.Should().Be(LogLevel.Warning);
        record.Exception.Should().BeSameAs(late);
    }

    [Fact]
    public async Task RunDetachedAsync_CallerCancels_StopsWaitingAtOnceWithCallersToken()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = OperationTimeout.RunDetachedAsync(_ => gate.Task, OneSecond, timeProvider: FakeClock.Create(), cancellationToken: cts.Token);

        await cts.CancelAsync();
        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationCanceledException>();
        ex.Which.CancellationToken.Should().Be(cts.Token);
        gate.SetResult(1);
    }

    [Fact]
    public async Task RunDetachedAsync_CompletesInTime_ReturnsValueAndLogsNothing()
    {
        var logger = new FakeLogger();
        var value = await OperationTimeout.RunDetachedAsync(_ => Task.FromResult(3), OneSecond, logger, FakeClock.Create(), TestContext.Current.CancellationToken);
        value.Should().Be(3);
        logger.Collector.Count.Should().Be(0);
    }

    [Fact]
    public async Task RunDetachedAsync_NonGeneric_TimesOutAndLogsLaterFailure()
    {
        var clock = FakeClock.Create();
        var logger = new FakeLogger();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = OperationTimeout.RunDetachedAsync(_ => gate.Task, OneSecond, logger, clock, TestContext.Current.CancellationToken);

        await clock.AdvanceAsync(OneSecond);
        await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationTimeoutException>();

        gate.SetException(new IOException("disk"));
        await FakeClock.WaitUntilAsync(() => logger.Collector.Count > 0, cancellationToken: TestContext.Current.CancellationToken);
        logger.LatestRecord.Exception.Should().BeOfType<IOException>();
    }

    [Fact]
    public async Task RunDetachedAsync_OperationHonoursToken_ReportsTimeoutWithoutLogging()
    {
        var clock = FakeClock.Create();
        var logger = new FakeLogger();
        var task = OperationTimeout.RunDetachedAsync(WaitForCancellation, OneSecond, logger, clock, TestContext.Current.CancellationToken);

        await clock.AdvanceAsync(OneSecond);
        await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationTimeoutException>();
        await FakeClock.SettleAsync();
        logger.Collector.Count.Should().Be(0);
    }
}
