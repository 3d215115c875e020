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

    [Fact]
    public void Constructor_WithFaults_FaultsAreUnnamedAndInTheSameOrder()
    {
        var first = new InvalidOperationException("first");
        var second = new FormatException("second");

        var exception = new TaskGroupException("two faults", [first, second]);

        exception.Faults.Select(f => f.Exception).Should().Equal(first, second);
        exception.Faults.Should().OnlyContain(f => f.ChildName == null && f.GroupName == null);
        exception.Message.Should().Be("two faults", "the inner messages are not appended to it");
    }

    [Fact]
    public void Constructors_WithoutFaults_HaveNoFaultsAndKeepTheirMessage()
    {
        new TaskGroupException().Faults.Should().BeEmpty();
        new TaskGroupException().Message.Should().Be("One or more children of the task group faulted.");
        new TaskGroupException("just this").Message.Should().Be("just this");
        new TaskGroupException(null).Message.Should().NotBeNullOrEmpty();
        new TaskGroupException("one", new IOException("io")).Faults.Single().Exception.Should().BeOfType<IOException>();
    }
}
