using AsyncPatterns.TaskGroups;

namespace AsyncPatterns.Tests.TaskGroups;

public sealed class TaskGroupExceptionTests
{
    [Fact]
    public void Constructor_WithFaults_KeepsOrderAndFirstIsInnerException()
    {
        var first = new InvalidOperationException("first");
        var second = new FormatException("second");

        var exception = new TaskGroupException("two faults", [first, second]);

        exception.InnerExceptions.Should().Equal(first, second);
        exception.InnerException.Should().BeSameAs(first);
        exception.Should().BeAssignableTo<AggregateException>();
    }
}
