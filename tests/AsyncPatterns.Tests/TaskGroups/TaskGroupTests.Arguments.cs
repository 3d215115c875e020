using AsyncPatterns.TaskGroups;
using static AsyncPatterns.Tests.TaskGroups.TaskGroupTestHelpers;

namespace AsyncPatterns.Tests.TaskGroups;

public sealed partial class TaskGroupTests
{
    /// <summary>Calls <paramref name="call"/> and drops the task it returns, so only a synchronous throw is seen.</summary>
    private static Action Sync(Func<object> call) => () => _ = call();

    private static async IAsyncEnumerable<int> AsyncItems()
    {
        await Task.Yield();
        yield return 1;
    }

    [Fact]
    public void StaticMethods_NullOrInvalidArguments_ThrowSynchronouslyNamingTheParameter()
    {
        Func<int, CancellationToken, Task<int>> body = (i, _) => Task.FromResult(i);
        int[] items = [1];

        Sync(() => TaskGroup.RunAsync<int>(null!)).Should().Throw<ArgumentNullException>().WithParameterName("body");
        Sync(() => TaskGroup.RaceAsync<int>(null!)).Should().Throw<ArgumentNullException>().WithParameterName("candidates");
        Sync(() => TaskGroup.RaceAsync<int>([_ => Task.FromResult(1), null!])).Should().Throw<ArgumentException>().WithParameterName("candidates");

        Sync(() => TaskGroup.ForEachAsync((IEnumerable<int>)null!, 1, body)).Should().Throw<ArgumentNullException>().WithParameterName("source");
        Sync(() => TaskGroup.ForEachAsync(items, 0, body)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("maxConcurrency");
        Sync(() => TaskGroup.ForEachAsync(items, 1, (Func<int, CancellationToken, Task<int>>)null!)).Should().Throw<ArgumentNullException>().WithParameterName("body");

        Sync(() => TaskGroup.ForEachAsync((IAsyncEnumerable<int>)null!, 1, body)).Should().Throw<ArgumentNullException>().WithParameterName("source");
        Sync(() => TaskGroup.ForEachAsync(AsyncItems(), 0, body)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("maxConcurrency");
        Sync(() => TaskGroup.ForEachAsync(AsyncItems(), 1, (Func<int, CancellationToken, Task<int>>)null!)).Should().Throw<ArgumentNullException>().WithParameterName("body");
    }

    [Fact]
    public async Task InstanceMethods_NullWork_ThrowArgumentNullExceptionAndStartNothing()
    {
        await using var group = new TaskGroup(cancellationToken: Ct);

        Sync(() => group.Run(null!)).Should().Throw<ArgumentNullException>().WithParameterName("work");
        Sync(() => group.Run<int>(null!)).Should().Throw<ArgumentNullException>().WithParameterName("work");
        Sync(() => group.TryRun(null!)).Should().Throw<ArgumentNullException>().WithParameterName("work");
        Sync(() => group.StartAsync<int>(null!, cancellationToken: Ct)).Should().Throw<ArgumentNullException>().WithParameterName("work");
    }

    [Theory]
    [InlineData("imports", "The task group 'imports' failed: an unnamed child threw ChildFaultException: child fault a")]
    [InlineData(null, "The task group failed: an unnamed child threw ChildFaultException: child fault a")]
    public async Task RunAsync_ChildFaults_MessageCountsTheFaultsAndNamesTheGroup(string? name, string expected)
    {
        var run = TaskGroup.RunAsync(
            group =>
            {
                _ = group.Run(_ => Task.FromException(new ChildFaultException("a")));
                return Task.FromResult(0);
            },
            new TaskGroupOptions { Name = name },
            Ct);

        var ex = await run.Guard().Awaiting(t => t).Should().ThrowAsync<TaskGroupException>();
        ex.Which.Message.Should().Be(expected);
    }
}
