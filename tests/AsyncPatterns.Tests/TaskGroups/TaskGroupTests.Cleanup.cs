using System.Collections;
using AsyncPatterns.TaskGroups;
using static AsyncPatterns.Tests.TaskGroups.TaskGroupTestHelpers;

namespace AsyncPatterns.Tests.TaskGroups;

public sealed partial class TaskGroupTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ForEachAsync_SourceMoveNextThrows_NeverCalledAgainAndTheFaultIsReportedOnceFirst(bool asyncSource)
    {
        var slowBody = NewGate();
        var slowReturned = 0;
        ThrowingSource? source = null;
        source = new ThrowingSource(throwAtCall: 2, beforeThrow: () =>
        {
            // Let the other worker finish its item and queue up for the next one before the throw.
            slowBody.SetResult();
            SpinWait.SpinUntil(() => Volatile.Read(ref slowReturned) == 1, FakeClock.HangTimeout);
            for (var i = 0; i < 200; i++)
            {
                Thread.Yield();
            }
        });

        var act = () => ForEachAsync(source, asyncSource, 2, async (item, _) =>
        {
            if (item == 1)
            {
                await slowBody.Task;
                Interlocked.Exchange(ref slowReturned, 1);
            }

            return item;
        }).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        source.CallsAfterThrow.Should().Be(0, "an enumerator that threw is never touched again");
        thrown.InnerExceptions.Should().ContainSingle().Which.Should().BeSameAs(source.Fault);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ForEachAsync_SourceCurrentThrows_NeverCalledAgain(bool asyncSource)
    {
        var source = new ThrowingSource(throwAtCall: 1, beforeThrow: null, throwFromCurrent: true);

        var act = () => ForEachAsync(source, asyncSource, 3, (item, _) => Task.FromResult(item)).Guard();

        (await act.Should().ThrowAsync<TaskGroupException>()).Which.InnerExceptions.Should().ContainSingle().Which.Should().BeSameAs(source.Fault);
        source.CallsAfterThrow.Should().Be(0);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ForEachAsync_BodyFaultsAndTheSourcesDisposeThrows_ReportsBothTheBodysFirst(bool asyncSource)
    {
        var source = new ThrowingDisposeSource(10);

        var act = () => ForEachAsync(source, asyncSource, 2, (item, _) =>
            item == 3 ? Task.FromException<int>(new IOException("item 3")) : Task.FromResult(item)).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        thrown.InnerExceptions.Should().HaveCount(2);
        thrown.InnerExceptions[0].Should().BeOfType<IOException>();
        thrown.InnerExceptions[1].Should().BeSameAs(source.DisposeFault);
        thrown.Faults[1].ChildName.Should().Be("(source)");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ForEachAsync_OnlyTheSourcesDisposeThrows_ThrowsTaskGroupExceptionWithIt(bool asyncSource)
    {
        var source = new ThrowingDisposeSource(4);

        var act = () => ForEachAsync(source, asyncSource, 2, (item, _) => Task.FromResult(item)).Guard();

        (await act.Should().ThrowAsync<TaskGroupException>()).Which.InnerExceptions.Should().ContainSingle().Which.Should().BeSameAs(source.DisposeFault);
    }

    [Fact]
    public async Task ForEachAsync_CallerCancelsAndTheSourcesDisposeThrows_TheFaultWinsOverTheCancellation()
    {
        using var caller = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var source = new ThrowingDisposeSource(100);

        var act = () => TaskGroup.ForEachAsync((IEnumerable<int>)source, 2, async (item, token) =>
        {
            if (item == 1)
            {
                await caller.CancelAsync();
            }

            await Task.Yield();
            token.ThrowIfCancellationRequested();
            return item;
        }, caller.Token).Guard();

        (await act.Should().ThrowAsync<TaskGroupException>()).Which.InnerException.Should().BeSameAs(source.DisposeFault);
    }

    [Fact]
    public async Task RaceAsync_LateLosersDisposeThrows_DisposesTheWinnerAndThrowsTheDisposalFault()
    {
        var winner = new Resource("winner");
        var loser = new ThrowingResource();

        var act = () => TaskGroup.RaceAsync<IAsyncDisposable>(
        [
            async _ =>
            {
                await Task.Yield();
                return winner;
            },
            async token =>
            {
                // Finishes only once the race has cancelled it, so it can only lose; it still produces a result.
                var cancelled = NewGate();
                using (token.Register(() => cancelled.SetResult()))
                {
                    await cancelled.Task;
                }

                return loser;
            },
        ], cancellationToken: Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        thrown.InnerExceptions.Should().ContainSingle().Which.Should().BeSameAs(loser.Fault);
        thrown.Faults.Single().ChildName.Should().Be("candidate[1]");
        loser.Disposals.Should().Be(1);
        winner.Disposed.Should().BeTrue("the race throws, so the winner it never returns is disposed");
    }

    [Fact]
    public async Task RaceAsync_CallerCancelsAndACandidateStillSucceeds_DisposesItAndThrowsOperationCanceled()
    {
        using var caller = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var late = new Resource("late");

        var act = () => TaskGroup.RaceAsync<Resource>(
        [
            async token =>
            {
                await caller.CancelAsync();
                token.IsCancellationRequested.Should().BeTrue();
                await Task.Yield();
                return late; // ignores cancellation
            },
        ], cancellationToken: caller.Token).Guard();

        (await act.Should().ThrowAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(caller.Token);
        late.Disposed.Should().BeTrue("a result the race does not return is disposed");
    }

    [Fact]
    public async Task RaceAsync_EveryCandidateFails_FaultsNameTheCandidates()
    {
        var act = () => TaskGroup.RaceAsync<int>(
        [
            _ => Task.FromException<int>(new ChildFaultException("a")),
        ], cancellationToken: Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        thrown.Faults.Single().ChildName.Should().Be("candidate[0]");
        thrown.Message.Should().Be("The race failed: child 'candidate[0]' threw ChildFaultException: child fault a");
    }

    /// <summary>
    /// A sync and async source of 0, 1, ... whose call number <c>throwAtCall</c> to MoveNext (or to Current after it)
    /// throws <see cref="Fault"/>; every call after that is counted in <see cref="CallsAfterThrow"/>.
    /// </summary>
    private sealed class ThrowingSource(int throwAtCall, Action? beforeThrow, bool throwFromCurrent = false) : IEnumerable<int>, IAsyncEnumerable<int>
    {
        private readonly int _throwAtCall = throwAtCall;
        private readonly Action? _beforeThrow = beforeThrow;
        private readonly bool _throwFromCurrent = throwFromCurrent;
        private int _calls;
        private int _callsAfterThrow;
        private int _current;

        public Exception Fault { get; } = new InvalidOperationException("the source failed");

        public int CallsAfterThrow => Volatile.Read(ref _callsAfterThrow);

        public IEnumerator<int> GetEnumerator() => new Enumerator(this);

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public IAsyncEnumerator<int> GetAsyncEnumerator(CancellationToken cancellationToken = default) => new Enumerator(this);

        private sealed class Enumerator(ThrowingSource source) : IEnumerator<int>, IAsyncEnumerator<int>
        {
            private bool _thrown;

            public int Current
            {
                get
                {
                    if (source._throwFromCurrent && source._current == source._throwAtCall)
                    {
                        _thrown = true;
                        throw source.Fault;
                    }

                    return source._current;
                }
            }

            object IEnumerator.Current => Current;

            public bool MoveNext()
            {
                if (_thrown)
                {
                    Interlocked.Increment(ref source._callsAfterThrow);
                    throw new InvalidOperationException("MoveNext called after the enumerator threw");
                }

                var call = source._calls++;
                if (call == source._throwAtCall && !source._throwFromCurrent)
                {
                    _thrown = true;
                    source._beforeThrow?.Invoke();
                    throw source.Fault;
                }

                source._current = call;
                return true;
            }

            public ValueTask<bool> MoveNextAsync()
            {
                try
                {
                    return ValueTask.FromResult(MoveNext());
                }
                catch (Exception ex)
                {
                    return ValueTask.FromException<bool>(ex);
                }
            }

            public void Reset() => throw new NotSupportedException();

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }

    /// <summary>A sync and async source of 0..count-1 whose Dispose and DisposeAsync throw <see cref="DisposeFault"/>.</summary>
    private sealed class ThrowingDisposeSource(int count) : IEnumerable<int>, IAsyncEnumerable<int>
    {
        private readonly int _count = count;

        public Exception DisposeFault { get; } = new InvalidOperationException("source Dispose failed");

        public IEnumerator<int> GetEnumerator() => new Enumerator(this);

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public IAsyncEnumerator<int> GetAsyncEnumerator(CancellationToken cancellationToken = default) => new Enumerator(this);

        private sealed class Enumerator(ThrowingDisposeSource source) : IEnumerator<int>, IAsyncEnumerator<int>
        {
            private int _next = -1;

            public int Current => _next;

            object IEnumerator.Current => Current;

            public bool MoveNext() => ++_next < source._count;

            public ValueTask<bool> MoveNextAsync() => ValueTask.FromResult(MoveNext());

            public void Reset() => throw new NotSupportedException();

            public void Dispose() => throw source.DisposeFault;

            public ValueTask DisposeAsync() => ValueTask.FromException(source.DisposeFault);
        }
    }

    private sealed class ThrowingResource : IAsyncDisposable
    {
        private int _disposals;

        public Exception Fault { get; } = new IOException("loser Dispose failed");

        public int Disposals => Volatile.Read(ref _disposals);

        public ValueTask DisposeAsync()
        {
            Interlocked.Increment(ref _disposals);
            return ValueTask.FromException(Fault);
        }
    }
}
