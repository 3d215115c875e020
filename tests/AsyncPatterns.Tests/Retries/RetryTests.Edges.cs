using AsyncPatterns.Internal;
using AsyncPatterns.Retries;
using Polly;

namespace AsyncPatterns.Tests.Retries;

/// <summary>Long backoffs, the attempt count at every exit, and callbacks that throw.</summary>
public sealed partial class RetryTests
{
    [Fact]
    public void MaxAllowedDelay_FitsInATimer()
    {
        RetryOptions.MaxAllowedDelay.Should().BeLessThanOrEqualTo(TimerLimits.MaxDueTime);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ExecuteAsync_FortyRetriesWithoutMaxDelay_CapsTheBackoffAtMaxAllowedDelayInsteadOfThrowing(bool useJitter)
    {
        var clock = FakeClock.Create();
        var delays = new List<TimeSpan>();
        var attempts = 0;
        var options = NoJitter(clock, maxRetries: 40);
        options.UseJitter = useJitter;
        options.Randomizer = new Random(17).NextDouble;
        options.OnRetry = a => delays.Add(a.Delay);

        var task = Retry.ExecuteAsync(
            _ =>
            {
                Interlocked.Increment(ref attempts);
                return Task.FromException<int>(new IOException("down"));
            },
            options,
            TestContext.Current.CancellationToken);
        await clock.AdvanceUntilAsync(() => task.IsCompleted, TimeSpan.FromHours(6));

        var ex = await task.Awaiting(t => t).Should().ThrowAsync<IOException>();
        Volatile.Read(ref attempts).Should().Be(41);
        ex.Which.Data[Retry.AttemptCountDataKey].Should().Be(41);
        delays.Should().HaveCount(40).And.OnlyContain(d => d >= TimeSpan.Zero && d <= RetryOptions.MaxAllowedDelay);
        if (!useJitter)
        {
            delays[^1].Should().Be(RetryOptions.MaxAllowedDelay, "2^39 s is capped at the longest allowed delay");
        }
    }

    [Fact]
    public async Task ExecuteAsync_CancelledDuringTheDelay_RecordsTheAttemptsActuallyMade()
    {
        var clock = FakeClock.Create();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var attempts = 0;
        var task = Retry.ExecuteAsync(
            _ =>
            {
                Interlocked.Increment(ref attempts);
                return Task.FromException<int>(new IOException("down"));
            },
            NoJitter(clock),
            cts.Token);
        await FakeClock.SettleAsync();
        Volatile.Read(ref attempts).Should().Be(1);

        await cts.CancelAsync();

        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationCanceledException>();
        Volatile.Read(ref attempts).Should().Be(1);
        ex.Which.Data[Retry.AttemptCountDataKey].Should().Be(1, "the second attempt never started");
    }

    [Fact]
    public async Task ExecuteAsync_ShouldRetryThrowsOnTheOperationsException_ThrowsAggregateHoldingBothInOrder()
    {
        var clock = FakeClock.Create();
        var failure = new IOException("the operation's own fault");
        var bug = new InvalidOperationException("predicate bug");
        var options = NoJitter(clock);
        options.ShouldRetry = _ => throw bug;

        var act = () => Retry.ExecuteAsync<int>(_ => throw failure, options, TestContext.Current.CancellationToken);

        var ex = (await act.Should().ThrowAsync<AggregateException>()).Which;
        ex.InnerExceptions.Should().Equal(bug, failure);
        ex.Message.Should().Contain("ShouldRetry");
        ex.Data[Retry.AttemptCountDataKey].Should().Be(1);
    }

    [Fact]
    public async Task ExecuteAsync_OnRetryThrows_StopsRetryingAndThrowsAggregateHoldingBoth()
    {
        var clock = FakeClock.Create();
        var attempts = 0;
        var bug = new InvalidOperationException("callback bug");
        var failure = new IOException("down");
        var options = NoJitter(clock);
        options.OnRetry = _ => throw bug;

        var task = Retry.ExecuteAsync(
            _ =>
            {
                Interlocked.Increment(ref attempts);
                return Task.FromException<int>(failure);
            },
            options,
            TestContext.Current.CancellationToken);
        await clock.AdvanceUntilAsync(() => task.IsCompleted, TimeSpan.FromSeconds(1), maxSteps: 20);

        var ex = (await task.Awaiting(t => t).Should().ThrowAsync<AggregateException>()).Which;
        ex.InnerExceptions.Should().Equal(bug, failure);
        ex.Message.Should().Contain("OnRetry");
        Volatile.Read(ref attempts).Should().Be(1);
        ex.Data[Retry.AttemptCountDataKey].Should().Be(1);
    }

    [Fact]
    public async Task ExecuteAsync_ShouldRetryThrowsOnAResult_ThrowsTheCallbacksExceptionUnchanged()
    {
        var clock = FakeClock.Create();
        var bug = new InvalidOperationException("predicate bug");
        var options = NoJitter(clock);
        options.ShouldRetry = outcome => outcome.Result is 7 ? throw bug : false;

        var act = () => Retry.ExecuteAsync(_ => Task.FromResult(7), options, TestContext.Current.CancellationToken);

        var ex = (await act.Should().ThrowAsync<InvalidOperationException>()).Which;
        ex.Should().BeSameAs(bug, "there is no exception of the operation to keep, so the callback's own propagates");
        ex.Data[Retry.AttemptCountDataKey].Should().Be(1);
    }

    [Fact]
    public async Task CreatePipeline_ComposedWithoutRetryExecuteAsync_CountsTheAttemptsThatStarted()
    {
        var clock = FakeClock.Create();
        var pipeline = NoJitter(clock, maxRetries: 2).CreatePipeline();
        var context = ResilienceContextPool.Shared.Get(TestContext.Current.CancellationToken);
        try
        {
            var task = pipeline.ExecuteAsync(static (_, _) => ValueTask.FromException<int>(new IOException("down")), context, 0).AsTask();
            await clock.AdvanceUntilAsync(() => task.IsCompleted, TimeSpan.FromSeconds(1));
            await task.Awaiting(t => t).Should().ThrowAsync<IOException>();
            Retry.GetAttemptCount(context).Should().Be(3);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    [Fact]
    public async Task ExecuteAsync_ShouldRetryThrowsOnAResult_KeepsTheCallbacksStackTrace()
    {
        var options = NoJitter(FakeClock.Create());
        options.ShouldRetry = _ => FailingPredicate();

        var act = () => Retry.ExecuteAsync(_ => Task.FromResult(7), options, TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<InvalidOperationException>()).Which.StackTrace.Should().Contain(nameof(FailingPredicate));
    }

    [Fact]
    public async Task ExecuteAsync_ShouldRetryThrowsOnADisposableResult_DisposesTheResultTheCallerNeverGets()
    {
        var result = new DisposableProbe();
        var bug = new InvalidOperationException("predicate bug");
        var options = NoJitter(FakeClock.Create());
        options.ShouldRetry = _ => throw bug;

        var act = () => Retry.ExecuteAsync(_ => Task.FromResult(result), options, TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<InvalidOperationException>()).Which.Should().BeSameAs(bug);
        result.Disposed.Should().BeTrue();
    }

    [Fact]
    public async Task ExecuteAsync_OnRetryThrowsOnADisposableResult_DisposesTheResultTheCallerNeverGets()
    {
        var clock = FakeClock.Create();
        var result = new DisposableProbe();
        var bug = new InvalidOperationException("callback bug");
        var options = NoJitter(clock);
        options.ShouldRetry = outcome => outcome.Result is DisposableProbe;
        options.OnRetry = _ => throw bug;

        var task = Retry.ExecuteAsync(_ => Task.FromResult(result), options, TestContext.Current.CancellationToken);
        await clock.AdvanceUntilAsync(() => task.IsCompleted, TimeSpan.FromSeconds(1), maxSteps: 20);

        (await task.Awaiting(t => t).Should().ThrowAsync<InvalidOperationException>()).Which.Should().BeSameAs(bug);
        result.Disposed.Should().BeTrue();
    }

    private static bool FailingPredicate() => throw new InvalidOperationException("predicate bug");
}
