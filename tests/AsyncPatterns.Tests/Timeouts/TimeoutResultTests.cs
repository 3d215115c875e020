using AsyncPatterns.Timeouts;

namespace AsyncPatterns.Tests.Timeouts;

public sealed class TimeoutResultTests
{
    [Fact]
    public void FromValue_IsCompletedWithValue()
    {
        var result = TimeoutResult<int>.FromValue(5, TimeSpan.FromSeconds(1));
        result.Completed.Should().BeTrue();
        result.TimedOut.Should().BeFalse();
        result.Value.Should().Be(5);
        result.Elapsed.Should().Be(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public void FromTimeout_ValueThrowsInvalidOperation()
    {
        var result = TimeoutResult<string>.FromTimeout(TimeSpan.FromSeconds(1));
        result.TimedOut.Should().BeTrue();
        var read = () => result.Value;
        read.Should().Throw<InvalidOperationException>();
        result.TryGetValue(out var value).Should().BeFalse();
        value.Should().BeNull();
    }
}
