using AsyncPatterns.TaskGroups;
using static AsyncPatterns.Tests.TaskGroups.TaskGroupTestHelpers;

namespace AsyncPatterns.Tests.TaskGroups;

public sealed partial class TaskGroupTests
{
    [Fact]
    public async Task DisposeAsync_FaultNeverObservedByWhenAll_ThrowsTheTaskGroupException()
    {
        var faulting = NewGate();
        async Task BlockAsync()
        {
            await using var group = new TaskGroup(cancellationToken: Ct);
            _ = group.Run(_ =>
            {
                faulting.SetResult();
                throw new ChildFaultException("lost");
            }, "worker");
            await faulting.Task;
        }

        var act = () => BlockAsync().Guard();

        var thrown = await act.Should().ThrowAsync<TaskGroupException>();
        thrown.Which.InnerExceptions.Should().ContainSingle().Which.Should().BeOfType<ChildFaultException>().Which.Id.Should().Be("lost");
        thrown.Which.Faults.Should().ContainSingle().Which.ChildName.Should().Be("worker");
    }

    [Fact]
    public async Task DisposeAsync_FaultDuringTheCancellationItCauses_ThrowsTheTaskGroupException()
    {
        var started = NewGate();
        async Task BlockAsync()
        {
            await using var group = new TaskGroup(cancellationToken: Ct);
            _ = group.Run(async token =>
            {
                started.SetResult();
                try
                {
                    await WaitForCancellationAsync(token);
                }
                catch (OperationCanceledException)
                {
                    throw new ChildFaultException("cleanup");
                }
            });
            await started.Task;
        }

        var act = () => BlockAsync().Guard();

        (await act.Should().ThrowAsync<TaskGroupException>()).Which.InnerException.Should().BeOfType<ChildFaultException>();
    }

    [Fact]
    public async Task DisposeAsync_ExceptionLeavingTheBlockAndAnUnobservedFault_TheTaskGroupExceptionReplacesIt()
    {
        var faulted = NewGate();
        async Task BlockAsync()
        {
            await using var group = new TaskGroup(cancellationToken: Ct);
            _ = group.Run(async _ =>
            {
                await Task.Yield();
                faulted.SetResult();
                throw new ChildFaultException("child");
            });
            await faulted.Task;
            throw new FormatException("leaving the block");
        }

        var act = () => BlockAsync().Guard();

        // C# gives DisposeAsync no way to see the FormatException: the documented trade-off is that the group's
        // unobserved fault wins, so a fault is never silent (RunAsync sees both).
        (await act.Should().ThrowAsync<TaskGroupException>()).Which.InnerException.Should().BeOfType<ChildFaultException>();
    }

    [Fact]
    public async Task DisposeAsync_ExceptionLeavingTheBlockWithoutFaults_LetsItThrough()
    {
        var childCancelled = false;
        var childStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async Task BlockAsync()
        {
            await using var group = new TaskGroup(cancellationToken: Ct);
            _ = group.Run(async token =>
            {
                try
                {
                    childStarted.SetResult();
                    await WaitForCancellationAsync(token);
                }
                finally
                {
                    childCancelled = true;
                }
            });

            // A child the group cancels before the thread pool starts it never runs (Run's documented rule), so the
            // block leaves only once the child is running: then the cancellation is what ends it.
            await childStarted.Task.WaitAsync(Ct);
            throw new FormatException("leaving the block");
        }

        var act = () => BlockAsync().Guard();

        await act.Should().ThrowAsync<FormatException>();
        childCancelled.Should().BeTrue();
    }

    [Fact]
    public async Task DisposeAsync_AfterWhenAllAsyncReportedTheFault_DoesNotThrowItAgain()
    {
        var group = new TaskGroup(cancellationToken: Ct);
        _ = group.Run(_ => Task.FromException(new ChildFaultException("once")));

        var whenAll = () => group.WhenAllAsync().Guard();
        await whenAll.Should().ThrowAsync<TaskGroupException>();

        var dispose = () => group.DisposeAsync().AsTask().Guard();
        await dispose.Should().NotThrowAsync();
        await dispose.Should().NotThrowAsync(); // idempotent
    }

    [Fact]
    public async Task DisposeAsync_CalledTwiceAfterAnUnobservedFault_ThrowsOnlyOnce()
    {
        var faulting = NewGate();
        var group = new TaskGroup(cancellationToken: Ct);
        _ = group.Run(_ =>
        {
            faulting.SetResult();
            throw new ChildFaultException("once");
        });
        await faulting.Task.Guard();

        var dispose = () => group.DisposeAsync().AsTask().Guard();
        await dispose.Should().ThrowAsync<TaskGroupException>();
        await dispose.Should().NotThrowAsync("the fault has been reported once");
    }

    [Fact]
    public async Task DisposeAsync_CallerCancelledWithoutFaults_DoesNotThrow()
    {
        using var caller = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var group = new TaskGroup(cancellationToken: caller.Token);
        var child = group.Run(WaitForCancellationAsync);
        await caller.CancelAsync();

        var dispose = () => group.DisposeAsync().AsTask().Guard();

        await dispose.Should().NotThrowAsync("a cancellation is not a fault; the exception leaving the block, if any, stays");
        child.IsCanceled.Should().BeTrue();
    }
}
