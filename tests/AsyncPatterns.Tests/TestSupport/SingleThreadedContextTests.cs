namespace AsyncPatterns.Tests.TestSupport;

public sealed class SingleThreadedContextTests
{
    [Fact]
    public async Task RunAsync_ContinuationsWithoutConfigureAwait_ReturnToTheContextThread()
    {
        var threads = await SingleThreadedContext.RunAsync(async () =>
        {
            var before = Environment.CurrentManagedThreadId;
            await Task.Run(() => { }, TestContext.Current.CancellationToken);
            return (before, after: Environment.CurrentManagedThreadId);
        }, FakeClock.HangTimeout);

        threads.after.Should().Be(threads.before);
    }

    [Fact]
    public async Task RunAsync_SyncOverAsync_IsDetectedAsDeadlock()
    {
        var act = () => SingleThreadedContext.RunAsync(() =>
        {
            // The classic deadlock: block the only thread on work that needs it to continue.
            BlockOnAsync().GetAwaiter().GetResult();
            return Task.CompletedTask;
        }, TimeSpan.FromMilliseconds(500));

        await act.Should().ThrowAsync<TimeoutException>().WithMessage("*deadlocked*");

        static async Task BlockOnAsync() => await Task.Delay(TimeSpan.FromMilliseconds(10));
    }

    [Fact]
    public async Task RunAsync_Exception_PropagatesToTheCaller()
    {
        var act = () => SingleThreadedContext.RunAsync(async () =>
        {
            await Task.Yield();
            throw new InvalidOperationException("boom");
        }, FakeClock.HangTimeout);

        await act.Should().ThrowAsync<InvalidOperationException>().WithMessage("boom");
    }
}
