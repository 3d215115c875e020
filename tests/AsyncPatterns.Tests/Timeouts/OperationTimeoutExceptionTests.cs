using AsyncPatterns.Timeouts;

namespace AsyncPatterns.Tests.Timeouts;

public sealed class OperationTimeoutExceptionTests
{
    [Fact]
    public void Constructor_WithTimeoutAndElapsed_CarriesBothAndTheInnerException()
    {
        var inner = new OperationCanceledException();
        var ex = new OperationTimeoutException(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(3), inner);

        ex.Timeout.Should().Be(TimeSpan.FromSeconds(2));
        ex.Elapsed.Should().Be(TimeSpan.FromSeconds(3));
        ex.InnerException.Should().BeSameAs(inner);
        ex.Message.Should().Contain("00:00:02");
        ex.Should().BeAssignableTo<TimeoutException>();
    }

    [Fact]
    public void Constructor_WithMessage_HasZeroTimeout()
    {
        var ex = new OperationTimeoutException("custom");
        ex.Message.Should().Be("custom");
        ex.Timeout.Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public void Constructor_Parameterless_HasADefaultMessageAndZeroTimeout()
    {
        var ex = new OperationTimeoutException();
        ex.Message.Should().Be("The operation timed out.");
        ex.Timeout.Should().Be(TimeSpan.Zero);
        ex.Elapsed.Should().Be(TimeSpan.Zero);
    }
}
