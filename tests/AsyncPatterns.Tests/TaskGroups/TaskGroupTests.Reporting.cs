using AsyncPatterns.TaskGroups;
using static AsyncPatterns.Tests.TaskGroups.TaskGroupTestHelpers;

namespace AsyncPatterns.Tests.TaskGroups;

public sealed partial class TaskGroupTests
{
    [Fact]
    public async Task RunAsync_NamedChildFaultsFailFast_ExceptionCarriesTheChildsNameAndSaysItOnce()
    {
        var act = () => TaskGroup.RunAsync(group =>
        {
            _ = group.Run(WaitForCancellationAsync, "backend-a");
            _ = group.Run(_ => Task.FromException(new ChildFaultException("boom")), "backend-b");
            return Task.CompletedTask;
        }, new TaskGroupOptions { Name = "fan-out" }, Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;

        var fault = thrown.Faults.Should().ContainSingle().Subject;
        fault.ChildName.Should().Be("backend-b");
        fault.GroupName.Should().Be("fan-out");
        fault.Exception.Should().BeSameAs(thrown.InnerException);
        thrown.Message.Should().Be("The task group 'fan-out' failed: child 'backend-b' threw ChildFaultException: child fault boom");
    }

    [Fact]
    public async Task RunAsync_SeveralFaults_FaultsMatchInnerExceptionsInOrderAndTheMessageListsTheFirstThree()
    {
        var gates = Enumerable.Range(0, 5).Select(_ => NewGate()).ToArray();

        var act = () => TaskGroup.RunAsync(async group =>
        {
            for (var i = 0; i < 5; i++)
            {
                var id = i;
                _ = group.Run(async _ =>
                {
                    await gates[id].Task; // ignores cancellation: every child faults
                    throw new ChildFaultException(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }, id == 2 ? null : "c" + id);
            }

            foreach (var gate in gates)
            {
                gate.SetResult();
                await Task.Yield();
            }
        }, new TaskGroupOptions { Mode = TaskGroupMode.Supervisor }, Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;

        thrown.Faults.Select(f => f.Exception).Should().Equal(thrown.InnerExceptions);
        thrown.Faults.Select(f => f.GroupName).Should().AllSatisfy(n => n.Should().BeNull());
        var names = thrown.Faults.Select(f => f.ChildName).ToList();
        names.Should().BeEquivalentTo(["c0", "c1", null, "c3", "c4"]);
        thrown.Message.Should().StartWith("The task group failed with 5 faults: ")
            .And.EndWith("; and 2 more (see TaskGroupException.Faults)");
        thrown.Message.Split("threw").Should().HaveCount(4, "three faults are spelled out");
    }

    [Fact]
    public async Task RunAsync_BodyFaultsAndAnUnnamedChildFaults_TheMessageSaysWhichIsWhich()
    {
        var act = () => TaskGroup.RunAsync(async group =>
        {
            var child = group.Run(_ => Task.FromException(new ChildFaultException("child")));
            await Task.WhenAny(child);
            throw new FormatException("body");
        }, new TaskGroupOptions { Mode = TaskGroupMode.Supervisor }, Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;

        thrown.Message.Should().Be("The task group failed with 2 faults: an unnamed child threw ChildFaultException: child fault child; the body threw FormatException: body");
        thrown.Faults.Select(f => f.ChildName).Should().Equal(null, "(body)");
    }

    [Fact]
    public async Task RunAsync_TimeoutBeyondTheLongestTimer_FiresAtThatTimeOnTheFakeClock()
    {
        var clock = FakeClock.Create();
        var fiftyDays = TimeSpan.FromDays(50);
        var options = new TaskGroupOptions { Timeout = fiftyDays, TimeProvider = clock };

        var run = TaskGroup.RunAsync(group =>
        {
            _ = group.Run(WaitForCancellationAsync);
            return Task.CompletedTask;
        }, options, Ct);

        await clock.AdvanceAsync(TimeSpan.FromDays(49.9));
        run.IsCompleted.Should().BeFalse();
        await clock.AdvanceAsync(TimeSpan.FromDays(0.1) - TimeSpan.FromMilliseconds(1));
        run.IsCompleted.Should().BeFalse("the timer is re-armed for what remains");
        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(1));

        var act = () => run.Guard();
        (await act.Should().ThrowAsync<TimeoutException>()).Which.Message.Should().Contain("50.00:00:00");
    }

    [Theory]
    [InlineData(50.0)]
    [InlineData(10_000.0)]
    public async Task Constructor_TimeoutBeyondTheLongestTimerOnTheSystemClock_IsAccepted(double days)
    {
        var options = new TaskGroupOptions { Timeout = TimeSpan.FromDays(days) };

        await using var group = new TaskGroup(options, Ct);
        (await group.Run(_ => Task.FromResult(3)).Guard()).Should().Be(3);
        await group.WhenAllAsync().Guard();
    }

    [Fact]
    public async Task Constructor_TimeoutMaxValue_NeverFires()
    {
        var clock = FakeClock.Create();
        var options = new TaskGroupOptions { Timeout = TimeSpan.MaxValue, TimeProvider = clock };
        var group = new TaskGroup(options, Ct);
        var child = group.Run(WaitForCancellationAsync);

        await clock.AdvanceAsync(TimeSpan.FromDays(365));

        child.IsCompleted.Should().BeFalse();
        group.Cancel();
        await group.WhenAllAsync().Guard();
    }
}
