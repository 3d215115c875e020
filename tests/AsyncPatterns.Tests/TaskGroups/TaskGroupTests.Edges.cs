using System.Collections;
using AsyncPatterns.TaskGroups;
using static AsyncPatterns.Tests.TaskGroups.TaskGroupTestHelpers;

namespace AsyncPatterns.Tests.TaskGroups;

/// <summary>
/// Less travelled paths: faults of handlers, token callbacks and the body itself, odd child delegates, the execution
/// context, StartAsync's edges, a cancelled group, and how the loops treat their source.
/// </summary>
public sealed partial class TaskGroupTests
{
    [Fact]
    public async Task RunAsync_OnChildFaultedThrows_ReportsTheFaultAndTheHandlersException()
    {
        var options = new TaskGroupOptions
        {
            Mode = TaskGroupMode.Supervisor,
            OnChildFaulted = _ => throw new ChildFaultException("handler"),
        };

        var act = () => TaskGroup.RunAsync(group =>
        {
            _ = group.Run(_ => throw new ChildFaultException("child"));
            return Task.CompletedTask;
        }, options, Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        thrown.InnerExceptions.Cast<ChildFaultException>().Select(e => e.Id).Should().Equal("child", "handler");
    }

    [Fact]
    public async Task Cancel_ATokenCallbackThrows_IsAFaultOfTheGroup()
    {
        var act = () => TaskGroup.RunAsync(group =>
        {
            group.Token.Register(() => throw new ChildFaultException("callback"));
            group.Cancel();
            return Task.CompletedTask;
        }, cancellationToken: Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        thrown.InnerExceptions.Should().ContainSingle().Which.Should().BeOfType<ChildFaultException>().Which.Id.Should().Be("callback");
    }

    [Fact]
    public async Task Cancel_TwoTokenCallbacksThrow_ReportsBothInOneAggregate()
    {
        var act = () => TaskGroup.RunAsync(group =>
        {
            group.Token.Register(() => throw new ChildFaultException("first"));
            group.Token.Register(() => throw new ChildFaultException("second"));
            group.Cancel();
            return Task.CompletedTask;
        }, cancellationToken: Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        var aggregate = thrown.InnerExceptions.Should().ContainSingle().Which.Should().BeOfType<AggregateException>().Which;
        aggregate.InnerExceptions.Cast<ChildFaultException>().Select(e => e.Id).Should().BeEquivalentTo(["first", "second"]);
    }

    [Fact]
    public async Task RunAsync_BodyFaultsAfterCancellingTheGroup_IsStillAFault()
    {
        var act = () => TaskGroup.RunAsync(group =>
        {
            group.Cancel();
            throw new ChildFaultException("body");
        }, cancellationToken: Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        thrown.InnerExceptions.Should().ContainSingle().Which.As<ChildFaultException>().Id.Should().Be("body");
    }

    [Fact]
    public async Task RunAsync_BodyObservesTheGroupsOwnCancellation_CompletesNormally()
    {
        await TaskGroup.RunAsync(group =>
        {
            group.Cancel();
            group.Token.ThrowIfCancellationRequested();
            return Task.CompletedTask;
        }, cancellationToken: Ct).Guard();
    }

    [Fact]
    public async Task Run_DelegateReturnsANullTask_IsAFault()
    {
        Task? child = null;

        var act = () => TaskGroup.RunAsync(group =>
        {
#pragma warning disable VSTHRD114 // The null task is the point of the test.
            child = group.Run(_ => null!, "null-task");
#pragma warning restore VSTHRD114
            return Task.CompletedTask;
        }, cancellationToken: Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        thrown.InnerExceptions.Should().ContainSingle().Which.Should().BeOfType<InvalidOperationException>();
        child!.IsFaulted.Should().BeTrue();
    }

    [Fact]
    public async Task Run_ChildTaskFaultedWithSeveralExceptions_ReportsThemTogether()
    {
        var source = new TaskCompletionSource();
        source.SetException([new ChildFaultException("a"), new ChildFaultException("b")]);

        var act = () => TaskGroup.RunAsync(group =>
        {
            _ = group.Run(_ => source.Task);
            return Task.CompletedTask;
        }, cancellationToken: Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        var aggregate = thrown.InnerExceptions.Should().ContainSingle().Which.Should().BeOfType<AggregateException>().Which;
        aggregate.InnerExceptions.Cast<ChildFaultException>().Select(e => e.Id).Should().Equal("a", "b");
    }

    private static readonly AsyncLocal<string?> s_ambient = new();

    [Fact]
    public async Task Run_Child_SeesTheAsyncLocalValuesOfTheCaller()
    {
        string? seen = null;

        await TaskGroup.RunAsync(group =>
        {
            s_ambient.Value = "from the caller";
            _ = group.Run(_ =>
            {
                seen = s_ambient.Value;
                return Task.CompletedTask;
            });
            return Task.CompletedTask;
        }, cancellationToken: Ct).Guard();

        seen.Should().Be("from the caller");
    }

    [Fact]
    public async Task Run_ExecutionContextFlowSuppressed_StillRunsTheChild()
    {
        var ran = false;

        await TaskGroup.RunAsync(group =>
        {
            using (ExecutionContext.SuppressFlow())
            {
                _ = group.Run(_ =>
                {
                    ran = true;
                    return Task.CompletedTask;
                });
            }

            return Task.CompletedTask;
        }, cancellationToken: Ct).Guard();

        ran.Should().BeTrue();
    }

    [Fact]
    public async Task Run_ChildThrowsTheGroupsCancellationSynchronously_ItsTaskIsCanceled()
    {
        Task? child = null;

        await TaskGroup.RunAsync(group =>
        {
            child = group.Run(token =>
            {
                group.Cancel();
                token.ThrowIfCancellationRequested();
                return Task.CompletedTask;
            });
            return Task.CompletedTask;
        }, cancellationToken: Ct).Guard();

        await child!.Guard().Invoking(t => t).Should().ThrowAsync<OperationCanceledException>();
        child!.IsCanceled.Should().BeTrue();
    }

    [Fact]
    public async Task RunAsyncOfT_WhenAllAsyncInTheBody_ThrowsInvalidOperationException()
    {
        var result = await TaskGroup.RunAsync(group =>
        {
            Record.Exception(() => { _ = group.WhenAllAsync(); }).Should().BeOfType<InvalidOperationException>("it throws before returning a task");
            return Task.FromResult(7);
        }, cancellationToken: Ct).Guard();

        result.Should().Be(7);
    }

    [Fact]
    public async Task TryRun_OnACancelledGroup_AcceptsWithoutRunningTheDelegate()
    {
        var ran = false;
        var accepted = false;

        await TaskGroup.RunAsync(group =>
        {
            group.Cancel();
            accepted = group.TryRun(_ =>
            {
                ran = true;
                return Task.CompletedTask;
            });
            return Task.CompletedTask;
        }, new TaskGroupOptions { MaxConcurrency = 1 }, Ct).Guard();

        accepted.Should().BeTrue("the group took the child and completed it as cancelled");
        ran.Should().BeFalse();
    }

    [Fact]
    public async Task StartAsync_ChildSignalsTwice_TheSecondSignalThrows()
    {
        Exception? second = null;

        var value = await TaskGroup.RunAsync(async group => await group.StartAsync<int>((ready, _) =>
        {
            ready(1);
            second = Record.Exception(() => ready(2));
            return Task.CompletedTask;
        }, cancellationToken: Ct), cancellationToken: Ct).Guard();

        value.Should().Be(1);
        second.Should().BeOfType<InvalidOperationException>();
    }

    [Fact]
    public async Task StartAsync_OnACancelledGroup_ThrowsOperationCanceledWithoutRunning()
    {
        var ran = false;

        await TaskGroup.RunAsync(async group =>
        {
            group.Cancel();
            var act = () => group.StartAsync<int>((ready, _) =>
            {
                ran = true;
                ready(1);
                return Task.CompletedTask;
            }, cancellationToken: Ct).Guard();
            (await act.Should().ThrowAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(group.Token);
        }, cancellationToken: Ct).Guard();

        ran.Should().BeFalse();
    }

    [Fact]
    public async Task StartAsync_CallersTokenAlreadyCancelled_ReturnsACanceledTaskWithThatTokenAndNeverRuns()
    {
        var ran = false;
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        var after = false;

        await TaskGroup.RunAsync(async group =>
        {
            var start = group.StartAsync<int>((ready, _) =>
            {
                ran = true;
                ready(1);
                return Task.CompletedTask;
            }, cancellationToken: cts.Token);

            start.IsCanceled.Should().BeTrue("the token was cancelled before the call");
            (await FluentActions.Awaiting(() => start).Should().ThrowAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(cts.Token);
            group.Token.IsCancellationRequested.Should().BeFalse("the caller's cancellation is not the group's");
            await group.Run(_ =>
            {
                after = true;
                return Task.CompletedTask;
            }).Guard();
        }, cancellationToken: Ct).Guard();

        ran.Should().BeFalse();
        after.Should().BeTrue();
    }

    [Fact]
    public async Task StartAsync_QueuedWhenTheGroupIsCancelled_ThrowsOperationCanceledWithoutRunning()
    {
        var ran = false;
        var blockerStarted = NewGate();

        await TaskGroup.RunAsync(async group =>
        {
            _ = group.Run(async token =>
            {
                blockerStarted.SetResult();
                await WaitForCancellationAsync(token);
            });
            await blockerStarted.Task.Guard();
            var start = group.StartAsync<int>((ready, _) =>
            {
                ran = true;
                ready(1);
                return Task.CompletedTask;
            }, cancellationToken: Ct);
            start.IsCompleted.Should().BeFalse("the only slot is taken");

            group.Cancel();

            (await start.Invoking(s => s.Guard()).Should().ThrowAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(group.Token);
        }, new TaskGroupOptions { MaxConcurrency = 1 }, Ct).Guard();

        ran.Should().BeFalse();
    }

    [Fact]
    public async Task RaceAsync_LoserThrowsSomethingElseWhenCancelled_TheWinnerStillWins()
    {
        var loserStarted = NewGate();

        var winner = await TaskGroup.RaceAsync<string>(
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
                    throw new ObjectDisposedException("connection", "A client library reporting its cancellation its own way.");
                }

                return "loser";
            },
            async _ =>
            {
                await loserStarted.Task;
                return "winner";
            },
        ], cancellationToken: Ct).Guard();

        winner.Should().Be("winner");
    }

    [Fact]
    public async Task RaceAsync_CandidateEndsWithItsOwnCancellation_IsALoserNotTheRacesOutcome()
    {
        var failed = NewGate();

        var winner = await TaskGroup.RaceAsync<string>(
        [
            _ =>
            {
                failed.SetResult();
                return Task.FromException<string>(new OperationCanceledException("its own timeout"));
            },
            async _ =>
            {
                await failed.Task;
                return "winner";
            },
        ], cancellationToken: Ct).Guard();

        winner.Should().Be("winner");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ForEachAsync_BodyFaults_DisposesTheSourceEnumerator(bool asyncSource)
    {
        var disposed = false;
        IEnumerable<int> Source()
        {
            try
            {
                for (var i = 0; i < 100; i++)
                {
                    yield return i;
                }
            }
            finally
            {
                disposed = true;
            }
        }

        var act = () => ForEachAsync(Source(), asyncSource, 2, (item, _) =>
            item == 0 ? Task.FromException<int>(new ChildFaultException("body")) : Task.FromResult(item)).Guard();

        await act.Should().ThrowAsync<TaskGroupException>();
        disposed.Should().BeTrue();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ForEachAsync_LazySource_RunsMaxConcurrencyBodiesAtOnceAndNoMore(bool asyncSource)
    {
        var gate = NewGate();
        var started = 0;

        var run = ForEachAsync(Lazy(10), asyncSource, 3, async (item, _) =>
        {
            Interlocked.Increment(ref started);
            await gate.Task;
            return item;
        });

        await FakeClock.WaitUntilAsync(() => Volatile.Read(ref started) == 3, cancellationToken: Ct);
        await FakeClock.SettleAsync();
        Volatile.Read(ref started).Should().Be(3);
        gate.SetResult();
        (await run.Guard()).Should().Equal(Enumerable.Range(0, 10));

        static IEnumerable<int> Lazy(int count)
        {
            for (var i = 0; i < count; i++)
            {
                yield return i;
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ForEachAsync_MoreWorkersThanItems_NeverAsksTheSourceForMorePastItsEnd(bool asyncSource)
    {
        var source = new CountingSource(3);

        var results = await ForEachAsync(source, asyncSource, 4, (item, _) => Task.FromResult(item)).Guard();

        results.Should().Equal(0, 1, 2);
        source.MoveNextCalls.Should().Be(4, "three items and one end");
    }

    /// <summary>
    /// <see cref="TaskGroup.ForEachAsync{TSource, TResult}(IEnumerable{TSource}, int, Func{TSource, CancellationToken, Task{TResult}}, CancellationToken)"/>
    /// over <paramref name="source"/>, or its asynchronous overload over the source's own asynchronous enumerator (or,
    /// when it has none, over the source read asynchronously, disposing it when disposed).
    /// </summary>
    private static Task<IReadOnlyList<int>> ForEachAsync(
        IEnumerable<int> source, bool asyncSource, int maxConcurrency, Func<int, CancellationToken, Task<int>> body)
    {
        if (!asyncSource)
        {
            return TaskGroup.ForEachAsync(source, maxConcurrency, body, Ct);
        }

        return TaskGroup.ForEachAsync(source as IAsyncEnumerable<int> ?? ReadAsync(source), maxConcurrency, body, Ct);

        static async IAsyncEnumerable<int> ReadAsync(IEnumerable<int> items)
        {
            foreach (var item in items)
            {
                await Task.Yield();
                yield return item;
            }
        }
    }

    /// <summary>A source of 0..count-1 of unknown length, sync and async, that counts every call to MoveNext.</summary>
    private sealed class CountingSource(int count) : IEnumerable<int>, IAsyncEnumerable<int>
    {
        private readonly int _count = count;
        private int _moveNextCalls;
        private int _next = -1;

        public int MoveNextCalls => Volatile.Read(ref _moveNextCalls);

        public IEnumerator<int> GetEnumerator() => new Enumerator(this);

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public IAsyncEnumerator<int> GetAsyncEnumerator(CancellationToken cancellationToken = default) => new Enumerator(this);

        private sealed class Enumerator(CountingSource source) : IEnumerator<int>, IAsyncEnumerator<int>
        {
            public int Current => source._next;

            object IEnumerator.Current => Current;

            public bool MoveNext()
            {
                Interlocked.Increment(ref source._moveNextCalls);
                if (source._next + 1 >= source._count)
                {
                    return false;
                }

                source._next++;
                return true;
            }

            public ValueTask<bool> MoveNextAsync() => ValueTask.FromResult(MoveNext());

            public void Reset() => throw new NotSupportedException();

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
