namespace AsyncPatterns.Tests.TestSupport;

public sealed class FakeClockTests
{
    [Fact]
    public async Task AdvanceUntilCompletedAsync_DelayOfThreeSeconds_AdvancesExactlyToIt()
    {
        var time = FakeClock.Create();
        var start = time.GetUtcNow();
        var delay = Task.Delay(TimeSpan.FromSeconds(3), time, TestContext.Current.CancellationToken);

        await time.AdvanceUntilCompletedAsync(delay, TimeSpan.FromMilliseconds(100));

        (time.GetUtcNow() - start).Should().Be(TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task AdvanceUntilCompletedAsync_ReturnsTheTaskResult()
    {
        var time = FakeClock.Create();

        var result = await time.AdvanceUntilCompletedAsync(DelayedValueAsync(time), TimeSpan.FromSeconds(1));

        result.Should().Be(42);
    }

    [Fact]
    public async Task AdvanceUntilAsync_ConditionNeverHolds_FailsAfterMaxStepsInsteadOfHanging()
    {
        var time = FakeClock.Create();

        var act = () => time.AdvanceUntilAsync(() => false, TimeSpan.FromSeconds(1), maxSteps: 5);

        await act.Should().ThrowAsync<TimeoutException>().WithMessage("*5 steps*");
        time.GetUtcNow().Should().Be(FakeClock.Create().GetUtcNow() + TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task AdvanceUntilAsync_ConditionAlreadyHolds_DoesNotAdvance()
    {
        var time = FakeClock.Create();

        var advanced = await time.AdvanceUntilAsync(() => true, TimeSpan.FromSeconds(1));

        advanced.Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public async Task WaitUntilAsync_ConditionNeverHolds_ThrowsTimeout()
    {
        var act = () => FakeClock.WaitUntilAsync(() => false, TimeSpan.FromMilliseconds(50), TestContext.Current.CancellationToken);

        await act.Should().ThrowAsync<TimeoutException>();
    }

    private static async Task<int> DelayedValueAsync(TimeProvider time)
    {
        await Task.Delay(TimeSpan.FromSeconds(2), time);
        return 42;
    }
}
