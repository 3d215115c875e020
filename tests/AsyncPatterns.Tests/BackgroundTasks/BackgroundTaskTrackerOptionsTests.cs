using AsyncPatterns.BackgroundTasks;

namespace AsyncPatterns.Tests.BackgroundTasks;

public sealed class BackgroundTaskTrackerOptionsTests
{
    [Fact]
    public void Ctor_Defaults_AreTheDocumentedValues()
    {
        var options = new BackgroundTaskTrackerOptions();

        options.MaxInFlight.Should().Be(64);
        options.MaxQueued.Should().Be(1024);
        options.DefaultGrace.Should().Be(TimeSpan.FromSeconds(30));
        options.FaultBehavior.Should().Be(BackgroundTaskFaultBehavior.Log);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void MaxInFlight_LessThanOne_ThrowsNamingTheProperty(int value)
    {
        var act = () => new BackgroundTaskTrackerOptions { MaxInFlight = value };

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(BackgroundTaskTrackerOptions.MaxInFlight));
    }

    [Fact]
    public void MaxQueued_Negative_ThrowsNamingTheProperty()
    {
        var act = () => new BackgroundTaskTrackerOptions { MaxQueued = -1 };

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(BackgroundTaskTrackerOptions.MaxQueued));
    }

    [Fact]
    public void MaxQueued_Zero_IsAllowed()
    {
        var options = new BackgroundTaskTrackerOptions { MaxQueued = 0 };

        options.MaxQueued.Should().Be(0);
    }

    [Fact]
    public void DefaultGrace_Negative_ThrowsNamingTheProperty()
    {
        var act = () => new BackgroundTaskTrackerOptions { DefaultGrace = TimeSpan.FromSeconds(-1) };

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(BackgroundTaskTrackerOptions.DefaultGrace));
    }

    [Fact]
    public void DefaultGrace_InfiniteOrZero_IsAllowed()
    {
        var options = new BackgroundTaskTrackerOptions { DefaultGrace = Timeout.InfiniteTimeSpan };
        options.DefaultGrace.Should().Be(Timeout.InfiniteTimeSpan);

        options.DefaultGrace = TimeSpan.Zero;
        options.DefaultGrace.Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public void FaultBehavior_Undefined_ThrowsNamingTheProperty()
    {
        var act = () => new BackgroundTaskTrackerOptions { FaultBehavior = (BackgroundTaskFaultBehavior)42 };

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(BackgroundTaskTrackerOptions.FaultBehavior));
    }
}
