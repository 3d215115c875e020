namespace AsyncPatterns.IntegrationTests.Samples;

/// <summary>samples/BackgroundTasks: BackgroundTaskTracker with two workers, a short job and a graceful shutdown.</summary>
[Collection(SamplesCollection.Name)]
public sealed class BackgroundTasksSampleTests(BackgroundTasksSampleTests.Sample sample) : IClassFixture<BackgroundTasksSampleTests.Sample>
{
    public sealed class Sample() : SampleFixture("BackgroundTasks");

    [Fact]
    public void Run_TwoWorkersAndAShortJob_EveryTaskAcceptedAndTheFinishedOneReleased()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        run.ExitCode.Should().Be(0);
        run.Line(@"^   Worker-1 accepted: True$");
        run.Line(@"^   Worker-2 accepted: True$");
        run.Line(@"^   report-job accepted: True$");
        run.Line(@"^   report-job done$");
        run.Section(2).Line(@"^   still running: Worker-1, Worker-2$");
    }

    [Fact]
    public void Run_Shutdown_CancelsBothWorkersCleanlyAndRefusesLateWork()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        run.ExitCode.Should().Be(0);
        run.Section(3).Line(@"^   report: \d+ completed, 0 faulted, 2 cancelled, 0 abandoned$");
        run.Matches(@"^   Worker-1 cancelled$").Should().ContainSingle("each worker saw its cancellation once");
        run.Matches(@"^   Worker-2 cancelled$").Should().ContainSingle();
        run.Section(3).Line(@"^   clean \(nothing faulted or abandoned\): True; still in flight: 0$");
        run.Section(4).Line(@"^   late job accepted: False$");
    }
}
