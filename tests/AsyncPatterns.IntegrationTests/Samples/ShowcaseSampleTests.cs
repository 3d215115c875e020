namespace AsyncPatterns.IntegrationTests.Samples;

/// <summary>samples/Showcase: the end-to-end job over 60 items, checked against its SQLite database at the end.</summary>
[Collection(SamplesCollection.Name)]
public sealed class ShowcaseSampleTests(ShowcaseSampleTests.Sample sample) : IClassFixture<ShowcaseSampleTests.Sample>
{
    public sealed class Sample() : SampleFixture("Showcase", "--items", "60", "--rate", "400", "--latency", "5");

    [Fact]
    public void Run_SixtyItems_CompletesWithEverySavedItemOnceInTheDatabase()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        run.ExitCode.Should().Be(0, "the job completed and the database check passed");
        run.Line(@"^Showcase completed$");
        run.Line(@"^Items listed +60 in \d+ pages$");
        var saved = SampleRun.Int(run.Line(@"^Items saved +(?<n>\d+)$"), "n");
        var failed = SampleRun.Int(run.Line(@"^Items failed +(?<n>\d+)$"), "n");
        (saved + failed).Should().Be(60, "every listed item was saved or failed");
        SampleRun.Int(run.Line(@"^SQLite rows +(?<n>\d+) \(verified: each saved item once\)$"), "n").Should().Be(saved);
        run.Line(@"^Background tasks +shut down cleanly \(\d+ cancelled\)$");
        SampleRun.Int(run.Line(@"^Peak in flight at the server +(?<n>\d+)$"), "n").Should().BeInRange(1, 8, "at most --concurrency (8) requests in flight");
    }
}
