namespace AsyncPatterns.IntegrationTests.Samples;

/// <summary>samples/TaskGroups: TaskGroup.RunAsync over 6 downloads, fail-fast and supervisor.</summary>
[Collection(SamplesCollection.Name)]
public sealed class TaskGroupsSampleTests(TaskGroupsSampleTests.Sample sample) : IClassFixture<TaskGroupsSampleTests.Sample>
{
    public sealed class Sample() : SampleFixture("TaskGroups");

    [Fact]
    public void Run_AllSucceed_EveryResultInUrlOrderAndRunConcurrently()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        run.ExitCode.Should().Be(0);
        var ok = run.Section(1);
        ok.Line(@"^   results: file_0\.dat, file_1\.dat, file_2\.dat, file_3\.dat, file_4\.dat, file_5\.dat$");
        ok.Matches(@"^   Downloaded file_\d\.dat$").Should().HaveCount(6);
        SampleRun.Int(ok.Line(@"^   at most (?<peak>\d+) running at once$"), "peak").Should().BeGreaterThan(1, "the downloads ran concurrently");
    }

    [Fact]
    public void Run_OneFailsInFailFastMode_OneFaultReportedAndEverySiblingCancelled()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        var failFast = run.Section(2);
        failFast.Matches(@"^   Task failed: .*$").Should().ContainSingle("one fault reported (cancellations the group caused are not faults)")
            .Which.Value.Should().StartWith("   Task failed: file_1.dat: connection reset");
        failFast.Line(@"^   0 completed, 5 cancelled$");
        failFast.Matches(@"^   file_\d\.dat cancelled$").Should().HaveCount(5, "all 5 siblings were cancelled, none left running");
    }

    [Fact]
    public void Run_TwoFailInSupervisorMode_BothFaultsTogetherAndTheOthersComplete()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        var supervisor = run.Section(3);
        supervisor.Matches(@"^   Task failed: (?<file>file_\d\.dat): ").Select(fault => fault.Groups["file"].Value)
            .Should().BeEquivalentTo(["file_1.dat", "file_2.dat"], "both faults reported in one TaskGroupException");
        supervisor.Line(@"^   4 completed, 0 cancelled$");
    }
}
