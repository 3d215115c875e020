using System.Runtime.CompilerServices;
using AsyncPatterns.TaskGroups;

namespace AsyncPatterns.Tests.TaskGroups;

public sealed partial class TaskGroupTests
{
    [Fact]
    public async Task ForEachAsync_List_ReturnsResultsInInputOrder()
    {
        var items = Enumerable.Range(0, 100).ToList();

        var results = await TaskGroup.ForEachAsync(items, 8, async (item, _) =>
        {
            // Later items finish first: completion order is the reverse of input order.
            for (var i = 0; i < (100 - item) % 7; i++)
            {
                await Task.Yield();
            }

            return item * 10;
        }, Ct).Guard();

        results.Should().Equal(items.Select(i => i * 10));
    }

    [Fact]
    public async Task ForEachAsync_LazyEnumerable_ReturnsResultsInInputOrder()
    {
        var results = await TaskGroup.ForEachAsync(Lazy(50), 4, async (item, _) =>
        {
            await Task.Yield();
            return item.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }, Ct).Guard();

        results.Should().Equal(Enumerable.Range(0, 50).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)));

        static IEnumerable<int> Lazy(int count)
        {
            for (var i = 0; i < count; i++)
            {
                yield return i;
            }
        }
    }

    [Fact]
    public async Task ForEachAsync_AsyncEnumerable_ReturnsResultsInInputOrderWithBoundedConcurrency()
    {
        var running = 0;
        var peak = 0;

        var results = await TaskGroup.ForEachAsync(Source(60, Ct), 5, async (item, _) =>
        {
            InterlockedMax(ref peak, Interlocked.Increment(ref running));
            for (var i = 0; i < item % 4; i++)
            {
                await Task.Yield();
            }

            Interlocked.Decrement(ref running);
            return item + 1;
        }, Ct).Guard();

        results.Should().Equal(Enumerable.Range(1, 60));
        peak.Should().BeGreaterThan(0).And.BeLessThanOrEqualTo(5);

        static async IAsyncEnumerable<int> Source(int count, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            for (var i = 0; i < count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                await Task.Yield();
                yield return i;
            }
        }
    }

    [Fact]
    public async Task ForEachAsync_MaxConcurrency_NeverExceeded()
    {
        var running = 0;
        var peak = 0;

        await TaskGroup.ForEachAsync(Enumerable.Range(0, 300).ToArray(), 3, async (item, _) =>
        {
            InterlockedMax(ref peak, Interlocked.Increment(ref running));
            await Task.Yield();
            Interlocked.Decrement(ref running);
            return item;
        }, Ct).Guard();

        peak.Should().BeGreaterThan(0).And.BeLessThanOrEqualTo(3);
    }

    [Fact]
    public async Task ForEachAsync_BodyFaults_CancelsTheRestAndThrowsTaskGroupException()
    {
        var started = 0;

        var act = () => TaskGroup.ForEachAsync(Enumerable.Range(0, 1000).ToArray(), 2, async (item, token) =>
        {
            Interlocked.Increment(ref started);
            await Task.Yield();
            if (item > 10)
            {
                await TaskGroupTestHelpers.WaitForCancellationAsync(token); // only the fault can end these: the loop cannot outrun it
            }

            token.ThrowIfCancellationRequested();
            return item == 10 ? throw new ChildFaultException("item 10") : item;
        }, Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        thrown.InnerExceptions.Should().ContainSingle().Which.As<ChildFaultException>().Id.Should().Be("item 10");
        started.Should().BeLessThanOrEqualTo(12, "items 0..10 and at most one more per worker start before the fault cancels the rest");
    }

    [Fact]
    public async Task ForEachAsync_EmptySource_ReturnsEmpty()
    {
        var results = await TaskGroup.ForEachAsync(Array.Empty<int>(), 4, (item, _) => Task.FromResult(item), Ct).Guard();
        results.Should().BeEmpty();
    }

    [Fact]
    public void ForEachAsync_MaxConcurrencyNotPositive_ThrowsSynchronously()
    {
        var act = () => { _ = TaskGroup.ForEachAsync(new[] { 1 }, 0, (item, _) => Task.FromResult(item)); };
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("maxConcurrency");
    }
}
