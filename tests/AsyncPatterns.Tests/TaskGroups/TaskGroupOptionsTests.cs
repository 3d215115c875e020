using AsyncPatterns.TaskGroups;

namespace AsyncPatterns.Tests.TaskGroups;

public sealed class TaskGroupOptionsTests
{
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

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void MaxConcurrency_NotPositive_ThrowsNamingTheProperty(int value)
    {
        var act = () => new TaskGroupOptions { MaxConcurrency = value };
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(TaskGroupOptions.MaxConcurrency));
    }

    [Fact]
    public void Timeout_NotPositive_ThrowsNamingTheProperty()
    {
        var act = () => new TaskGroupOptions { Timeout = TimeSpan.Zero };
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(TaskGroupOptions.Timeout));
    }

    [Fact]
    public void Timeout_Infinite_MeansNone()
    {
        new TaskGroupOptions { Timeout = Timeout.InfiniteTimeSpan }.Timeout.Should().BeNull();
    }

    [Fact]
    public void TimeProvider_Null_ThrowsNamingTheProperty()
    {
        var act = () => new TaskGroupOptions { TimeProvider = null! };
        act.Should().Throw<ArgumentNullException>().WithParameterName(nameof(TaskGroupOptions.TimeProvider));
    }

    [Fact]
    public void Mode_Undefined_ThrowsNamingTheProperty()
    {
        var act = () => new TaskGroupOptions { Mode = (TaskGroupMode)42 };
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(TaskGroupOptions.Mode));
    }
}
