using AsyncPatterns.TaskGroups;

namespace AsyncPatterns.Tests.TaskGroups;

public sealed class TaskGroupOptionsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Defaults_AreDocumentedValues()
    {
        var options = new TaskGroupOptions();

        options.MaxConcurrency.Should().BeNull();
        options.Mode.Should().Be(TaskGroupMode.FailFast);
        options.Timeout.Should().BeNull();
        options.TimeProvider.Should().BeSameAs(TimeProvider.System);
        options.Name.Should().BeNull();
        options.OnChildFaulted.Should().BeNull();
    }

    [Fact]
    public void Setters_InvalidValues_StoreThemWithoutThrowing()
    {
        var options = new TaskGroupOptions
        {
            MaxConcurrency = 0,
            Mode = (TaskGroupMode)42,
            Timeout = TimeSpan.FromSeconds(-1),
            TimeProvider = null!,
        };

        options.MaxConcurrency.Should().Be(0);
        options.Mode.Should().Be((TaskGroupMode)42);
        options.Timeout.Should().Be(TimeSpan.FromSeconds(-1));
        options.TimeProvider.Should().BeNull();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void Constructor_MaxConcurrencyNotPositive_ThrowsNamingOptionsAndTheProperty(int value)
    {
        var act = () => new TaskGroup(new TaskGroupOptions { MaxConcurrency = value });

        act.Should().Throw<ArgumentException>().WithParameterName("options")
            .WithMessage($"TaskGroupOptions.MaxConcurrency must be positive or null (was {value}).*");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(int.MaxValue)]
    public async Task Constructor_MaxConcurrencyAtTheLimits_IsAccepted(int value)
    {
        await using var group = new TaskGroup(new TaskGroupOptions { MaxConcurrency = value }, Ct);
        var child = group.Run(_ => Task.FromResult(1));

        await group.WhenAllAsync().WaitAsync(Ct);

        (await child).Should().Be(1);
    }

    public static TheoryData<TimeSpan> NotPositiveTimeouts => new() { TimeSpan.Zero, TimeSpan.FromTicks(-1), TimeSpan.FromSeconds(-1), TimeSpan.MinValue };

    [Theory]
    [MemberData(nameof(NotPositiveTimeouts))]
    public void Constructor_TimeoutNotPositive_ThrowsNamingOptionsAndTheProperty(TimeSpan value)
    {
        var act = () => new TaskGroup(new TaskGroupOptions { Timeout = value });

        act.Should().Throw<ArgumentException>().WithParameterName("options")
            .WithMessage("TaskGroupOptions.Timeout must be positive, Timeout.InfiniteTimeSpan or null (was *).*");
    }

    [Fact]
    public async Task Constructor_TimeoutInfinite_MeansNoTimeout()
    {
        var time = FakeClock.Create();
        await using var group = new TaskGroup(new TaskGroupOptions { Timeout = Timeout.InfiniteTimeSpan, TimeProvider = time }, Ct);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = group.Run(_ => gate.Task);
        var all = group.WhenAllAsync();

        time.Advance(TimeSpan.FromDays(400));

        all.IsCompleted.Should().BeFalse("an infinite timeout never elapses");
        gate.SetResult();
        await all.WaitAsync(Ct);
    }

    [Fact]
    public void Constructor_TimeoutBeyondTheLongestTimer_IsAccepted()
    {
        var act = () => new TaskGroup(new TaskGroupOptions { Timeout = TimeSpan.FromDays(50), TimeProvider = FakeClock.Create() });

        act.Should().NotThrow();
    }

    [Fact]
    public void Constructor_ModeUndefined_ThrowsNamingOptionsAndTheProperty()
    {
        var act = () => new TaskGroup(new TaskGroupOptions { Mode = (TaskGroupMode)42 });

        act.Should().Throw<ArgumentException>().WithParameterName("options")
            .WithMessage("TaskGroupOptions.Mode must be TaskGroupMode.FailFast or TaskGroupMode.Supervisor (was 42).*");
    }

    [Fact]
    public void Constructor_TimeProviderNull_ThrowsNamingOptionsAndTheProperty()
    {
        var act = () => new TaskGroup(new TaskGroupOptions { TimeProvider = null! });

        act.Should().Throw<ArgumentException>().WithParameterName("options")
            .WithMessage("TaskGroupOptions.TimeProvider must be set (was null).*");
    }

    [Fact]
    public void Constructor_OnChildFaultedWithFailFast_ThrowsNamingOptionsAndTheProperty()
    {
        var act = () => new TaskGroup(new TaskGroupOptions { OnChildFaulted = _ => true });

        act.Should().Throw<ArgumentException>().WithParameterName("options")
            .WithMessage("TaskGroupOptions.OnChildFaulted must be null unless Mode is TaskGroupMode.Supervisor (was set with Mode FailFast).*");
    }

    [Fact]
    public void Constructor_SeveralRulesBroken_ListsEveryOne()
    {
        var act = () => new TaskGroup(new TaskGroupOptions { MaxConcurrency = 0, Timeout = TimeSpan.Zero, TimeProvider = null! });

        var message = act.Should().Throw<ArgumentException>().WithParameterName("options").Which.Message;
        message.Should().Contain("TaskGroupOptions.MaxConcurrency must be positive or null (was 0).")
            .And.Contain("TaskGroupOptions.Timeout must be positive, Timeout.InfiniteTimeSpan or null (was 00:00:00).")
            .And.Contain("TaskGroupOptions.TimeProvider must be set (was null).");
    }

    [Fact]
    public void RunAsync_InvalidOptions_ThrowsSynchronouslyWithTheConstructorsMessage()
    {
        var bodyRan = false;
        Action act = () => _ = TaskGroup.RunAsync(_ => { bodyRan = true; return Task.CompletedTask; }, new TaskGroupOptions { MaxConcurrency = 0 }, Ct);

        act.Should().Throw<ArgumentException>().WithParameterName("options")
            .WithMessage("TaskGroupOptions.MaxConcurrency must be positive or null (was 0).*");
        bodyRan.Should().BeFalse();
    }

    [Fact]
    public void RaceAsync_InvalidOptions_ThrowsSynchronouslyWithTheConstructorsMessage()
    {
        var candidateRan = false;
        Action act = () => _ = TaskGroup.RaceAsync<int>([_ => { candidateRan = true; return Task.FromResult(1); }], new TaskGroupOptions { Timeout = TimeSpan.Zero }, Ct);

        act.Should().Throw<ArgumentException>().WithParameterName("options")
            .WithMessage("TaskGroupOptions.Timeout must be positive, Timeout.InfiniteTimeSpan or null (was 00:00:00).*");
        candidateRan.Should().BeFalse();
    }
}
