using System.Collections.Concurrent;
using AsyncPatterns.TaskGroups;

namespace AsyncPatterns.Tests.Reliability;

/// <summary>
/// Seeded stress of <see cref="TaskGroup"/>: thousands of children (some nested) with random faults, cancellations,
/// explicit <see cref="TaskGroup.Cancel"/> and concurrency limits. See <see cref="StressHarness"/> for the soak and replay switches.
/// </summary>
public sealed class TaskGroupStressTests
{
    private const string Name = nameof(TaskGroupStressTests);

    [Fact]
    public Task RunAsync_RandomChildrenFaultsAndCancellations_EveryChildAccountedForOnceAndLimitHeld() =>
        StressHarness.RunAsync(Name, ciRounds: 16, RoundAsync);

    private static async Task RoundAsync(int seed)
    {
        var random = new Random(seed);
        var mode = random.Next(2) == 0 ? TaskGroupMode.FailFast : TaskGroupMode.Supervisor;
        int? limit = random.Next(3) == 0 ? null : random.Next(1, 9);
        var children = random.Next(200, 500);
        var callerCancels = random.Next(3) == 0;
        var plans = Enumerable.Range(0, children).Select(_ => random.Next(100)).ToArray();

        using var caller = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var tasks = new ConcurrentDictionary<int, Task>();
        var runs = new int[children * 2];
        var thrown = new ConcurrentDictionary<int, bool>();
        var running = 0;
        var peak = 0;
        var callerCancelled = 0;

        async Task ChildAsync(TaskGroup group, int id, CancellationToken token)
        {
            Interlocked.Increment(ref runs[id]);
            StressHarness.RaisePeak(ref peak, Interlocked.Increment(ref running));
            try
            {
                var plan = id < children ? plans[id] : 0;
                switch (plan)
                {
                    case < 35:
                        return;
                    case < 55:
                        await Task.Yield(); // ignores cancellation
                        return;
                    case < 75:
                        await Task.Yield();
                        token.ThrowIfCancellationRequested();
                        return;
                    case < 78:
                        thrown[id] = true;
                        throw new StressFault(Name, seed, id);
                    case < 81:
                        await Task.Yield();
                        thrown[id] = true;
                        throw new StressFault(Name, seed, id);
                    case < 82:
                        group.Cancel();
                        return;
                    case < 83 when callerCancels:
                        Interlocked.Exchange(ref callerCancelled, 1);
                        await caller.CancelAsync();
                        return;
                    default:
                        // Starts a grandchild while the group runs: it belongs to the same group.
                        var grandchild = id + children;
                        tasks[grandchild] = group.Run(t => ChildAsync(group, grandchild, t));
                        await Task.Yield();
                        return;
                }
            }
            finally
            {
                Interlocked.Decrement(ref running);
            }
        }

        TaskGroup? captured = null;
        var outcome = TaskGroup.RunAsync(group =>
        {
            captured = group;
            for (var i = 0; i < children; i++)
            {
                var id = i;
                tasks[id] = group.Run(t => ChildAsync(group, id, t), "child-" + id);
            }

            return Task.CompletedTask;
        }, new TaskGroupOptions { Mode = mode, MaxConcurrency = limit }, caller.Token);

        Exception? failure = null;
        try
        {
            await outcome.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken);
        }
        catch (Exception ex) when (ex is TaskGroupException or OperationCanceledException)
        {
            failure = ex;
        }

        // Nothing lost: when the group completes, every child it started has completed.
        tasks.Values.Should().OnlyContain(t => t.IsCompleted, "the group completes only after every child");
        Volatile.Read(ref running).Should().Be(0);
        if (limit is { } max)
        {
            peak.Should().BeLessThanOrEqualTo(max, "MaxConcurrency {0} is never exceeded", max);
        }

        // Nothing double-counted: every delegate ran at most once; one that never ran has a cancelled task.
        foreach (var (id, task) in tasks)
        {
            runs[id].Should().BeLessThanOrEqualTo(1, "child {0} ran once at most", id);
            if (runs[id] == 0)
            {
                task.IsCanceled.Should().BeTrue("child {0} never ran, so its task is cancelled", id);
            }
            else if (thrown.ContainsKey(id))
            {
                task.Exception!.InnerException.Should().BeOfType<StressFault>().Which.Id.Should().Be(id);
            }
        }

        // Every fault is reported exactly once, and the outcome matches the documented precedence.
        if (!thrown.IsEmpty)
        {
            var reported = failure.Should().BeOfType<TaskGroupException>().Subject.InnerExceptions
                .Select(e => e.Should().BeOfType<StressFault>().Subject.Id).ToList();
            reported.Should().OnlyHaveUniqueItems().And.BeEquivalentTo(thrown.Keys);
        }
        else if (Volatile.Read(ref callerCancelled) == 1)
        {
            failure.Should().BeAssignableTo<OperationCanceledException>()
                .Which.CancellationToken.Should().Be(caller.Token);
        }
        else
        {
            failure.Should().BeNull();
        }

        // A completed group refuses new children.
        captured.Should().NotBeNull();
        var late = () => { _ = captured!.Run(_ => Task.CompletedTask); };
        late.Should().Throw<InvalidOperationException>();
    }
}
