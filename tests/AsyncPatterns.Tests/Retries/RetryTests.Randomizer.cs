using AsyncPatterns.Retries;
using Polly;

namespace AsyncPatterns.Tests.Retries;

/// <summary>An injected <see cref="RetryOptions.Randomizer"/> that throws or returns a value outside [0, 1].</summary>
public sealed partial class RetryTests
{
    public static TheoryData<DelayBackoffType, double> BadRandomValues()
    {
        var data = new TheoryData<DelayBackoffType, double>();
        foreach (var type in new[] { DelayBackoffType.Constant, DelayBackoffType.Linear, DelayBackoffType.Exponential })
        {
            foreach (var value in new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity, -0.5, -double.Epsilon, 1.5, double.MaxValue })
            {
                data.Add(type, value);
            }
        }

        return data;
    }

    private static RetryOptions Jittered(Microsoft.Extensions.Time.Testing.FakeTimeProvider clock, DelayBackoffType type, Func<double> randomizer)
    {
        var options = NoJitter(clock);
        options.BackoffType = type;
        options.UseJitter = true;
        options.Randomizer = randomizer;
        return options;
    }

    [Theory]
    [InlineData(DelayBackoffType.Constant)]
    [InlineData(DelayBackoffType.Linear)]
    [InlineData(DelayBackoffType.Exponential)]
    public async Task ExecuteAsync_RandomizerThrows_ThrowsAggregateHoldingTheRandomizersAndTheOperationsException(DelayBackoffType type)
    {
        var clock = FakeClock.Create();
        var failure = new IOException("the operation's own fault");
        var bug = new InvalidOperationException("no entropy");
        var attempts = 0;
        var options = Jittered(clock, type, () => throw bug);
        options.OnRetry = _ => throw new InvalidOperationException("no retry was announced");

        var act = () => Retry.ExecuteAsync<int>(
            _ =>
            {
                Interlocked.Increment(ref attempts);
                throw failure;
            },
            options,
            TestContext.Current.CancellationToken);

        var ex = (await act.Should().ThrowAsync<AggregateException>()).Which;
        ex.InnerExceptions.Should().Equal(bug, failure);
        ex.Message.Should().Contain("Randomizer");
        ex.Data[Retry.AttemptCountDataKey].Should().Be(1);
        Volatile.Read(ref attempts).Should().Be(1);
    }

    [Theory]
    [MemberData(nameof(BadRandomValues))]
    public async Task ExecuteAsync_RandomizerReturnsAValueOutsideZeroToOne_StopsRetryingWithAnErrorNamingIt(DelayBackoffType type, double value)
    {
        var clock = FakeClock.Create();
        var failure = new IOException("down");
        var attempts = 0;
        var delays = new List<TimeSpan>();
        var options = Jittered(clock, type, () => value);
        options.OnRetry = a => delays.Add(a.Delay);

        var task = Retry.ExecuteAsync<int>(
            _ =>
            {
                Interlocked.Increment(ref attempts);
                throw failure;
            },
            options,
            TestContext.Current.CancellationToken);
        await FakeClock.SettleAsync();

        task.IsCompleted.Should().BeTrue("a corrupt delay is neither waited nor skipped");
        var ex = (await task.Awaiting(t => t).Should().ThrowAsync<AggregateException>()).Which;
        ex.InnerExceptions.Should().HaveCount(2);
        ex.InnerExceptions[0].Should().BeOfType<InvalidOperationException>()
            .Which.Message.Should().Contain("RetryOptions.Randomizer").And.Contain(value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        ex.InnerExceptions[1].Should().BeSameAs(failure);
        delays.Should().BeEmpty();
        Volatile.Read(ref attempts).Should().Be(1);
    }

    [Fact]
    public async Task ExecuteAsync_RandomizerFailsOnAResult_ThrowsItsErrorAloneAndDisposesTheResult()
    {
        var clock = FakeClock.Create();
        var bug = new InvalidOperationException("no entropy");
        var result = new DisposableProbe();
        var options = Jittered(clock, DelayBackoffType.Constant, () => throw bug);
        options.ShouldRetry = outcome => outcome.Result is DisposableProbe;

        var act = () => Retry.ExecuteAsync(_ => Task.FromResult(result), options, TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<InvalidOperationException>()).Which.Should().BeSameAs(bug);
        result.Disposed.Should().BeTrue("the result the caller never receives is disposed, as a retried one is");
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.999999)]
    [InlineData(1.0)]
    public async Task ExecuteAsync_RandomizerAtTheEndsOfZeroToOne_IsAccepted(double value)
    {
        var clock = FakeClock.Create();
        var attempts = 0;
        var options = Jittered(clock, DelayBackoffType.Constant, () => value);

        var task = Retry.ExecuteAsync(
            _ => Interlocked.Increment(ref attempts) < 3 ? Task.FromException<int>(new IOException("down")) : Task.FromResult(attempts),
            options,
            TestContext.Current.CancellationToken);
        await clock.AdvanceUntilAsync(() => task.IsCompleted, TimeSpan.FromMilliseconds(250));

        (await task).Should().Be(3);
    }

    private sealed class DisposableProbe : IDisposable
    {
        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }
}
