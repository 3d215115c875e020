using AsyncPatterns.TaskGroups;
using static AsyncPatterns.Tests.TaskGroups.TaskGroupTestHelpers;

namespace AsyncPatterns.Tests.TaskGroups;

public sealed partial class TaskGroupTests
{
    [Fact]
    public async Task RaceAsync_FirstSuccessWins_CancelsTheRest()
    {
        var slowCancelled = false;
        var slowStarted = NewGate();

        var winner = await TaskGroup.RaceAsync<string>(
        [
            async token =>
            {
                slowStarted.SetResult();
                try
                {
                    await WaitForCancellationAsync(token);
                }
                catch (OperationCanceledException)
                {
                    slowCancelled = true;
                    throw;
                }

                return "slow";
            },
            async _ =>
            {
                await slowStarted.Task;
                return "fast";
            },
        ], cancellationToken: Ct).Guard();

        winner.Should().Be("fast");
        slowCancelled.Should().BeTrue();
    }

    [Fact]
    public async Task RaceAsync_LoserSucceedsAfterTheWinner_DisposesTheLosersResult()
    {
        var loser = new Resource("loser");
        var winnerResource = new Resource("winner");
        var loserStarted = NewGate();

        var result = await TaskGroup.RaceAsync<Resource>(
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
                    // Ignores cancellation and still produces a result, like a connection that finished opening.
                }

                return loser;
            },
            async _ =>
            {
                await loserStarted.Task;
                return winnerResource;
            },
        ], cancellationToken: Ct).Guard();

        result.Should().BeSameAs(winnerResource);
        winnerResource.Disposed.Should().BeFalse();
        loser.Disposed.Should().BeTrue();
    }

    [Fact]
    public async Task RaceAsync_EveryCandidateFails_ThrowsTaskGroupExceptionWithEveryFault()
    {
        var second = NewGate();
        var act = () => TaskGroup.RaceAsync<int>(
        [
            async _ =>
            {
                await second.Task;
                throw new ChildFaultException("b");
            },
            async _ =>
            {
                await Task.Yield();
                second.SetResult();
                throw new ChildFaultException("a");
            },
        ], cancellationToken: Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        thrown.InnerExceptions.Select(e => ((ChildFaultException)e).Id).Should().BeEquivalentTo(["a", "b"]);
    }

    [Fact]
    public async Task RaceAsync_OneFailsOneSucceeds_ReturnsTheSuccess()
    {
        var value = await TaskGroup.RaceAsync<int>(
        [
            _ => throw new ChildFaultException("x"),
            async _ =>
            {
                await Task.Yield();
                return 5;
            },
        ], cancellationToken: Ct).Guard();

        value.Should().Be(5);
    }

    [Fact]
    public async Task RaceAsync_CallerCancels_ThrowsOperationCanceledWithCallerToken()
    {
        using var cts = new CancellationTokenSource();
        var started = NewGate();
        var race = TaskGroup.RaceAsync<int>(
        [
            async token =>
            {
                started.SetResult();
                await WaitForCancellationAsync(token);
                return 1;
            },
        ], cancellationToken: cts.Token);

        await started.Task.Guard();
        await cts.CancelAsync();

        var act = () => race.Guard();
        (await act.Should().ThrowAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(cts.Token);
    }

    [Fact]
    public void RaceAsync_NoCandidates_ThrowsArgumentException()
    {
        var act = () => { _ = TaskGroup.RaceAsync<int>([]); };
        act.Should().Throw<ArgumentException>().WithParameterName("candidates");
    }

    private sealed class Resource(string name) : IAsyncDisposable
    {
        public string Name { get; } = name;

        public bool Disposed { get; private set; }

        public ValueTask DisposeAsync()
        {
            Disposed = true;
            return ValueTask.CompletedTask;
        }
    }
}
