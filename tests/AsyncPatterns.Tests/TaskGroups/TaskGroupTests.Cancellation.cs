using System.Runtime.CompilerServices;
using AsyncPatterns.TaskGroups;
using static AsyncPatterns.Tests.TaskGroups.TaskGroupTestHelpers;

namespace AsyncPatterns.Tests.TaskGroups;

public sealed partial class TaskGroupTests
{
    [Fact]
    public async Task StartAsync_QueuedBehindMaxConcurrencyAndItsTokenCancelled_EndsPromptlyWithItsTokenAndNeverRuns()
    {
        var busy = NewGate();
        var ran = false;
        using var startCancellation = new CancellationTokenSource();
        Task<int>? start = null;
        var group = new TaskGroup(new TaskGroupOptions { MaxConcurrency = 1 }, Ct);
        _ = group.Run(_ => busy.Task, "busy");
        start = group.StartAsync<int>((ready, _) =>
        {
            ran = true;
            ready(1);
            return Task.CompletedTask;
        }, "queued", startCancellation.Token);

        start.IsCompleted.Should().BeFalse("the only slot is busy");
        await startCancellation.CancelAsync();

        var act = () => start.Guard();
        (await act.Should().ThrowAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(startCancellation.Token);
        group.TryRun(_ => Task.CompletedTask).Should().BeFalse("the slot is still busy");

        busy.SetResult();
        await group.WhenAllAsync().Guard();
        ran.Should().BeFalse("a child cancelled while queued never runs");
    }

    [Fact]
    public async Task StartAsync_QueuedAndCancelled_LeavesTheQueueAtOnce()
    {
        var busy = NewGate();
        var group = new TaskGroup(new TaskGroupOptions { MaxConcurrency = 1 }, Ct);
        _ = group.Run(_ => busy.Task);

        var queued = StartCancelledWhileQueued(group);
        await queued.Start.Awaiting(t => t.Guard()).Should().ThrowAsync<OperationCanceledException>();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        queued.Work.IsAlive.Should().BeFalse("the cancelled child left the queue while the slot is still busy");
        busy.SetResult();
        await group.WhenAllAsync().Guard();
    }

    [Fact]
    public async Task StartAsync_QueuedAndTheGroupCompletes_NextQueuedChildStillRuns()
    {
        var busy = NewGate();
        var group = new TaskGroup(new TaskGroupOptions { MaxConcurrency = 1 }, Ct);
        _ = group.Run(_ => busy.Task);
        using var cts = new CancellationTokenSource();
        var cancelled = group.StartAsync<int>((ready, _) => Task.CompletedTask, cancellationToken: cts.Token);
        var next = group.Run(_ => Task.FromResult(5));
        await cts.CancelAsync();
        await cancelled.Awaiting(t => t.Guard()).Should().ThrowAsync<OperationCanceledException>();

        busy.SetResult();

        (await next.Guard()).Should().Be(5, "the slot passes over the cancelled child to the next one");
        await group.WhenAllAsync().Guard();
    }

    [Fact]
    public async Task Run_ChildThrowsTokenlessOperationCanceledAfterCancel_IsAFault()
    {
        var release = NewGate();
        var started = NewGate();
        var fault = new OperationCanceledException("nobody asked for this");

        var act = () => TaskGroup.RunAsync(async group =>
        {
            var child = group.Run(async _ =>
            {
                started.SetResult();
                await release.Task; // ignores the group's token
                throw fault;
            }, "ignorer");
            await started.Task;
            group.Cancel();
            release.SetResult();
            await Task.WhenAny(child);
        }, cancellationToken: Ct).Guard();

        var thrown = await act.Should().ThrowAsync<TaskGroupException>();
        thrown.Which.InnerExceptions.Should().ContainSingle().Which.Should().BeSameAs(fault);
        thrown.Which.Faults.Single().ChildName.Should().Be("ignorer");
    }

    [Fact]
    public async Task Run_ChildThrowsOperationCanceledWithAnUncancelledTokenAfterCancel_IsAFault()
    {
        var release = NewGate();
        var started = NewGate();
        using var foreign = new CancellationTokenSource();

        var act = () => TaskGroup.RunAsync(async group =>
        {
            _ = group.Run(async _ =>
            {
                started.SetResult();
                await release.Task;
                throw new OperationCanceledException(foreign.Token);
            });
            await started.Task;
            group.Cancel();
            release.SetResult();
            await Task.Yield();
        }, cancellationToken: Ct).Guard();

        (await act.Should().ThrowAsync<TaskGroupException>()).Which.InnerException.Should().BeOfType<OperationCanceledException>();
    }

    [Fact]
    public async Task RunAsync_BodyThrowsTokenlessOperationCanceledAfterCancel_IsAFault()
    {
        var act = () => TaskGroup.RunAsync(async group =>
        {
            group.Cancel();
            await Task.Yield();
            throw new OperationCanceledException("not the group's");
        }, cancellationToken: Ct).Guard();

        (await act.Should().ThrowAsync<TaskGroupException>()).Which.Faults.Single().ChildName.Should().Be("(body)");
    }

    [Fact]
    public async Task Run_ChildCancelledThroughATokenLinkedToTheGroups_IsACancellation()
    {
        Task? child = null;

        await TaskGroup.RunAsync(group =>
        {
            child = group.Run(async token =>
            {
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(token);
                await Task.Delay(Timeout.InfiniteTimeSpan, linked.Token);
            });
            group.Cancel();
            return Task.CompletedTask;
        }, cancellationToken: Ct).Guard();

        child!.IsCanceled.Should().BeTrue();
    }

    [Fact]
    public async Task Run_ChildCancelledByItsOwnSourceWhileTheGroupRuns_IsAFault()
    {
        var act = () => TaskGroup.RunAsync(group =>
        {
            _ = group.Run(async _ =>
            {
                using var own = new CancellationTokenSource();
                await own.CancelAsync();
                await Task.Delay(Timeout.InfiniteTimeSpan, own.Token);
            });
            return Task.CompletedTask;
        }, cancellationToken: Ct).Guard();

        (await act.Should().ThrowAsync<TaskGroupException>()).Which.InnerException.Should().BeAssignableTo<OperationCanceledException>();
    }

    [Fact]
    public async Task Run_QueuedBeforeTheFirstFault_NeverRunsAndEndsCanceled()
    {
        var fail = NewGate();
        var queuedRan = false;
        Task? queued = null;

        var act = () => TaskGroup.RunAsync(group =>
        {
            _ = group.Run(async _ =>
            {
                await fail.Task;
                throw new ChildFaultException("first");
            });
            queued = group.Run(_ =>
            {
                queuedRan = true;
                return Task.CompletedTask;
            });
            fail.SetResult();
            return Task.CompletedTask;
        }, new TaskGroupOptions { MaxConcurrency = 1 }, Ct).Guard();

        await act.Should().ThrowAsync<TaskGroupException>();
        queuedRan.Should().BeFalse("asyncio never starts a task accepted before the first fault once the group is cancelled");
        queued!.IsCanceled.Should().BeTrue();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (Task<int> Start, WeakReference Work) StartCancelledWhileQueued(TaskGroup group)
    {
        var payload = new byte[1024];
        Func<Action<int>, CancellationToken, Task> work = (ready, _) =>
        {
            ready(payload.Length);
            return Task.CompletedTask;
        };
        var cts = new CancellationTokenSource();
        var start = group.StartAsync(work, "queued", cts.Token);
        cts.Cancel();
        cts.Dispose();
        return (start, new WeakReference(work));
    }
}
