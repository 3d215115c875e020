using AsyncPatterns.Timeouts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace AsyncPatterns.Tests.Timeouts;

public sealed partial class OperationTimeoutTests
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
        ex.Which.Elapsed.Should().Be(TimeSpan.FromSeconds(2), "the timeout is measured on the injected clock");
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
        record.Id.Name.Should().Be("DetachedOperationFaulted");
        record.Message.Should().Contain("00:00:01");
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
        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationTimeoutException>();
        ex.Which.Elapsed.Should().Be(OneSecond, "the timeout is measured on the injected clock");

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

    public static TheoryData<string> AllOverloads => ["RunAsync<T>", "RunAsync", "TryRunAsync", "RunDetachedAsync<T>", "RunDetachedAsync"];

    private static Task Invoke(string overload, Func<CancellationToken, Task<int>>? operation, TimeSpan timeout) => overload switch
    {
        "RunAsync<T>" => OperationTimeout.RunAsync(operation!, timeout),
        "RunAsync" => OperationTimeout.RunAsync(operation is null ? null! : ct => (Task)operation(ct), timeout),
        "TryRunAsync" => OperationTimeout.TryRunAsync(operation!, timeout),
        "RunDetachedAsync<T>" => OperationTimeout.RunDetachedAsync(operation!, timeout),
        "RunDetachedAsync" => OperationTimeout.RunDetachedAsync(operation is null ? null! : ct => (Task)operation(ct), timeout),
        _ => throw new ArgumentOutOfRangeException(nameof(overload)),
    };

    [Theory]
    [MemberData(nameof(AllOverloads))]
    public void AnyOverload_NullOperation_ThrowsArgumentNullExceptionSynchronously(string overload)
    {
        Action act = () => _ = Invoke(overload, null, OneSecond);
        act.Should().Throw<ArgumentNullException>().WithParameterName("operation");
    }

    [Theory]
    [MemberData(nameof(AllOverloads))]
    public void AnyOverload_ZeroTimeout_ThrowsArgumentOutOfRangeSynchronously(string overload)
    {
        var called = false;
        Action act = () => _ = Invoke(overload, _ => { called = true; return Task.FromResult(1); }, TimeSpan.Zero);
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("timeout");
        called.Should().BeFalse();
    }

    [Fact]
    public async Task RunAsync_OperationThrowsWithCallersToken_SameExceptionPropagates()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thrown = new OperationCanceledException("caller", cts.Token);
        var task = OperationTimeout.RunAsync<int>(
            async _ =>
            {
                await gate.Task;
                throw thrown;
            },
            OneSecond,
            FakeClock.Create(),
            cts.Token);

        await cts.CancelAsync();
        gate.SetResult();

        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationCanceledException>();
        ex.Which.Should().BeSameAs(thrown);
    }

    [Fact]
    public async Task RunAsync_NonGenericOperationThrowsWithCallersToken_SameExceptionPropagates()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thrown = new OperationCanceledException("caller", cts.Token);
        var task = OperationTimeout.RunAsync(
            async _ =>
            {
                await gate.Task;
                throw thrown;
            },
            OneSecond,
            FakeClock.Create(),
            cts.Token);

        await cts.CancelAsync();
        gate.SetResult();

        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationCanceledException>();
        ex.Which.Should().BeSameAs(thrown);
    }

    [Fact]
    public async Task RunAsync_NonGenericCallerCancels_ThrowsOperationCanceledWithCallersToken()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var task = OperationTimeout.RunAsync(ct => (Task)WaitForCancellation(ct), OneSecond, FakeClock.Create(), cts.Token);
        task.IsCompleted.Should().BeFalse();

        await cts.CancelAsync();

        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationCanceledException>();
        ex.Which.Should().NotBeOfType<OperationTimeoutException>();
        ex.Which.CancellationToken.Should().Be(cts.Token);
        ex.Which.InnerException.Should().BeAssignableTo<OperationCanceledException>("the operation's own cancellation is kept as the inner exception");
    }

    [Fact]
    public async Task RunAsync_NonGenericInfiniteTimeout_PassesCallersTokenAndNeverFires()
    {
        var clock = FakeClock.Create();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        CancellationToken seen = default;
        var calls = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = OperationTimeout.RunAsync(
            ct =>
            {
                seen = ct;
                calls++;
                return gate.Task;
            },
            Timeout.InfiniteTimeSpan,
            clock,
            cts.Token);

        seen.Should().Be(cts.Token);
        await clock.AdvanceAsync(TimeSpan.FromDays(1));
        task.IsCompleted.Should().BeFalse();

        gate.SetResult();
        await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken);
        task.IsCompletedSuccessfully.Should().BeTrue();
        calls.Should().Be(1, "the operation runs exactly once");
    }

    [Fact]
    public async Task TryRunAsync_InfiniteTimeout_ReturnsValueWithElapsedOnTheClock()
    {
        var clock = FakeClock.Create();
        CancellationToken seen = default;
        var gate = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = OperationTimeout.TryRunAsync(
            ct =>
            {
                seen = ct;
                return gate.Task;
            },
            Timeout.InfiniteTimeSpan,
            clock,
            TestContext.Current.CancellationToken);

        seen.Should().Be(TestContext.Current.CancellationToken);
        await clock.AdvanceAsync(TimeSpan.FromMinutes(5));
        task.IsCompleted.Should().BeFalse();
        gate.SetResult("late but fine");

        var result = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken);
        result.Completed.Should().BeTrue();
        result.Value.Should().Be("late but fine");
        result.Elapsed.Should().Be(TimeSpan.FromMinutes(5));
    }

    [Fact]
    public async Task TryRunAsync_OperationThrowsWithCallersToken_SameExceptionPropagates()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thrown = new OperationCanceledException("caller", cts.Token);
        var task = OperationTimeout.TryRunAsync<int>(
            async _ =>
            {
                await gate.Task;
                throw thrown;
            },
            OneSecond,
            FakeClock.Create(),
            cts.Token);

        await cts.CancelAsync();
        gate.SetResult();

        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationCanceledException>();
        ex.Which.Should().BeSameAs(thrown);
    }

    [Fact]
    public async Task RunDetachedAsync_OperationThrowsSynchronously_PropagatesAndReleasesTheCallersToken()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var boom = new InvalidOperationException("sync");

        var task = OperationTimeout.RunDetachedAsync<int>(_ => throw boom, OneSecond, timeProvider: FakeClock.Create(), cancellationToken: cts.Token);

        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<InvalidOperationException>();
        ex.Which.Should().BeSameAs(boom);
        // The link to the caller's token was removed: cancelling it later must not touch the disposed internal source.
        var cancel = () => cts.Cancel();
        cancel.Should().NotThrow();
    }

    [Fact]
    public async Task RunDetachedAsync_CompletesInTime_ReleasesTheCallersToken()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var value = await OperationTimeout.RunDetachedAsync(_ => Task.FromResult(7), OneSecond, timeProvider: FakeClock.Create(), cancellationToken: cts.Token);

        value.Should().Be(7);
        var cancel = () => cts.Cancel();
        cancel.Should().NotThrow();
    }

    [Fact]
    public async Task RunDetachedAsync_OperationFailsInTime_PropagatesAndLogsNothing()
    {
        var logger = new FakeLogger();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = OperationTimeout.RunDetachedAsync(_ => gate.Task, OneSecond, logger, FakeClock.Create(), TestContext.Current.CancellationToken);
        var boom = new InvalidOperationException("in time");
        gate.SetException(boom);

        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<InvalidOperationException>();
        ex.Which.Should().BeSameAs(boom);
        await FakeClock.SettleAsync();
        logger.Collector.Count.Should().Be(0, "the caller observed the failure itself; it was never orphaned");
    }

    [Fact]
    public async Task RunDetachedAsync_CallerCancelsAndOrphanFailsLater_LogsTheFailure()
    {
        var logger = new FakeLogger();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = OperationTimeout.RunDetachedAsync(_ => gate.Task, OneSecond, logger, FakeClock.Create(), cts.Token);

        await cts.CancelAsync();
        await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationCanceledException>();

        var late = new IOException("after the caller left");
        gate.SetException(late);
        await FakeClock.WaitUntilAsync(() => logger.Collector.Count > 0, cancellationToken: TestContext.Current.CancellationToken);
        logger.LatestRecord.Exception.Should().BeSameAs(late);
    }

    [Fact]
    public async Task RunDetachedAsync_OrphanEndsAfterTimeout_ReleasesTheCallersToken()
    {
        var clock = FakeClock.Create();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = OperationTimeout.RunDetachedAsync(_ => gate.Task, OneSecond, timeProvider: clock, cancellationToken: cts.Token);

        await clock.AdvanceAsync(OneSecond);
        await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationTimeoutException>();
        gate.SetResult(1);
        await FakeClock.SettleAsync();

        var cancel = () => cts.Cancel();
        cancel.Should().NotThrow("the orphan's end unlinks it from the caller's token before disposing its own source");
    }

    [Fact]
    public async Task RunDetachedAsync_OrphanFailsWithSeveralExceptions_LogsTheAggregate()
    {
        var clock = FakeClock.Create();
        var logger = new FakeLogger();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = OperationTimeout.RunDetachedAsync(_ => gate.Task, OneSecond, logger, clock, TestContext.Current.CancellationToken);
        await clock.AdvanceAsync(OneSecond);
        await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationTimeoutException>();

        var first = new IOException("first");
        var second = new InvalidOperationException("second");
        gate.SetException([first, second]);

        await FakeClock.WaitUntilAsync(() => logger.Collector.Count > 0, cancellationToken: TestContext.Current.CancellationToken);
        var logged = logger.LatestRecord.Exception.Should().BeOfType<AggregateException>().Subject;
        logged.InnerExceptions.Should().Equal(first, second);
    }
}
