namespace AsyncPatterns.IntegrationTests.Samples;

/// <summary>samples/Retries: what it prints is what Retry.ExecuteAsync did.</summary>
[Collection(SamplesCollection.Name)]
public sealed class RetriesSampleTests(RetriesSampleTests.Sample sample) : IClassFixture<RetriesSampleTests.Sample>
{
    public sealed class Sample() : SampleFixture("Retries");

    [Fact]
    public void Run_FlakyApi_SucceedsAfterOneAttemptPerFailureWithDoublingDelays()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        run.ExitCode.Should().Be(0);
        var flaky = run.Section(1);
        var outcome = flaky.Line(@"^   got item (?<id>\d+) \(.+\) after (?<attempts>\d+) attempts; the API failed (?<failures>\d+) of them$");
        SampleRun.Int(outcome, "id").Should().Be(1, "the call succeeded in the end");
        SampleRun.Int(outcome, "attempts").Should().Be(SampleRun.Int(outcome, "failures") + 1, "one attempt per failure, plus the one that succeeded");
        var delays = flaky.Matches(@"^   Attempt (?<n>\d+) failed: .* Retrying in (?<seconds>[\d.]+)s\.\.\.$");
        delays.Should().HaveCount(SampleRun.Int(outcome, "failures"), "one retry per failure");
        delays.Select(delay => SampleRun.Int(delay, "n")).Should().Equal(Enumerable.Range(1, delays.Count));
        delays.Select(delay => SampleRun.Double(delay, "seconds")).Should().Equal(
            Enumerable.Range(0, delays.Count).Select(n => 0.2 * Math.Pow(2, n)),
            (actual, expected) => Math.Abs(actual - expected) < 1e-9,
            "the delays doubled: base * 2^attempt, without jitter");
    }

    [Fact]
    public void Run_DeadApi_GivesUpAfterThreeAttemptsWithTheLastException()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        run.ExitCode.Should().Be(0);
        var dead = run.Section(2);
        var outcome = dead.Line(@"^   gave up after (?<attempts>\d+) attempts \((?<requests>\d+) requests reached the API\): Response status code does not indicate success: 500");
        SampleRun.Int(outcome, "attempts").Should().Be(3, "the attempt count travels in the exception's Data");
        SampleRun.Int(outcome, "requests").Should().Be(3, "3 attempts, then the last exception, unchanged");
        dead.Matches(@"Retrying in (0\.2|0\.4)s\.\.\.$").Should().HaveCount(2);
    }
}
