using AsyncPatterns.TaskGroups;
using static AsyncPatterns.Tests.TaskGroups.TaskGroupTestHelpers;

namespace AsyncPatterns.Tests.TaskGroups;

public sealed partial class TaskGroupTests
{
    [Fact]
    public async Task RaceAsync_TimeoutOnTheInjectedClock_CancelsEveryCandidateAndThrowsTimeoutException()
    {
        var clock = FakeClock.Create();
        var started = 0;

        var race = TaskGroup.RaceAsync<int>(
        [
            async token =>
            {
                Interlocked.Increment(ref started);
                await WaitForCancellationAsync(token);
                return 1;
            },
            async token =>
            {
                Interlocked.Increment(ref started);
                await WaitForCancellationAsync(token);
                return 2;
            },
        ], new TaskGroupOptions { Timeout = TimeSpan.FromSeconds(5), TimeProvider = clock }, Ct);

        await FakeClock.WaitUntilAsync(() => Volatile.Read(ref started) == 2, cancellationToken: Ct);
        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(4999));
        race.IsCompleted.Should().BeFalse();
        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(1));

        await race.Guard().Awaiting(t => t).Should().ThrowAsync<TimeoutException>();
    }

    [Fact]
    public async Task RaceAsync_LoserWithSynchronouslyDisposableResult_DisposesIt()
    {
        var loser = new SyncResource();
        var winner = new SyncResource();
        var loserStarted = NewGate();

        var result = await TaskGroup.RaceAsync<SyncResource>(
        [
            async token =>
            {
                loserStarted.SetResult();
                try
                {
                    await WaitForCancellationAsync(token);
                }
                catch (OperationCanceledException)
                {
                    // Ignores cancellation and still produces a result.
                }

                return loser;
            },
            async _ =>
            {
                await loserStarted.Task;
                return winner;
            },
        ], cancellationToken: Ct).Guard();

        result.Should().BeSameAs(winner);
        winner.Disposed.Should().BeFalse();
        loser.Disposed.Should().BeTrue();
    }

    private sealed class SyncResource : IDisposable
    {
        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }
}
