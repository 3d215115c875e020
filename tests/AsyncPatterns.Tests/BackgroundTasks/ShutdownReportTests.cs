using AsyncPatterns.BackgroundTasks;

namespace AsyncPatterns.Tests.BackgroundTasks;

public sealed class ShutdownReportTests
{
    private static readonly BackgroundTaskFault Fault = new("import", new InvalidOperationException("boom"));

    [Theory]
    [InlineData(false, false, true)]
    [InlineData(true, false, false)]
    [InlineData(false, true, false)]
    [InlineData(true, true, false)]
    public void IsClean_TrueOnlyWithoutFaultsAndWithoutAbandonedTasks(bool faulted, bool abandoned, bool expected)
    {
        var report = new ShutdownReport(3, faulted ? [Fault] : [], 1, abandoned ? ["stubborn"] : [], TimeSpan.FromSeconds(1));

        report.IsClean.Should().Be(expected);
    }

    [Fact]
    public void ToString_NothingAbandoned_CountsEveryOutcome()
    {
        var report = new ShutdownReport(3, [Fault], 2, [], TimeSpan.FromSeconds(1));

        report.ToString().Should().Be("3 completed, 1 faulted, 2 cancelled, 0 abandoned");
    }

    [Fact]
    public void ToString_TasksAbandoned_NamesThem()
    {
        var report = new ShutdownReport(0, [], 0, ["a", "b"], TimeSpan.FromSeconds(1));

        report.ToString().Should().Be("0 completed, 0 faulted, 0 cancelled, 2 abandoned (a, b)");
    }
}
