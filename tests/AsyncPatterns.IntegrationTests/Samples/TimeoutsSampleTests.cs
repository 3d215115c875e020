namespace AsyncPatterns.IntegrationTests.Samples;

/// <summary>samples/Timeouts: OperationTimeout.TryRunAsync against an API that answers in 2 s.</summary>
[Collection(SamplesCollection.Name)]
public sealed class TimeoutsSampleTests(TimeoutsSampleTests.Sample sample) : IClassFixture<TimeoutsSampleTests.Sample>
{
    public sealed class Sample() : SampleFixture("Timeouts");

    [Fact]
    public void Run_TimeoutShorterThanTheCall_ReturnsTimedOutBeforeTheResponseAndCancelsTheRequest()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        run.ExitCode.Should().Be(0);
        var result = run.Section(1).Line(@"^   \{ url: items/7, error: Request timed out, after (?<seconds>[\d.]+) s \}$");
        SampleRun.Double(result, "seconds").Should().BeLessThan(2.0, "the caller got its answer without waiting for the 2 s response");
        var server = run.Section(2).Line(@"^   requests that reached the server: (?<requests>\d+); still in flight there: (?<inFlight>\d+)$");
        SampleRun.Int(server, "requests").Should().BeLessThanOrEqualTo(1);
        SampleRun.Int(server, "inFlight").Should().Be(0, "the request was cancelled, not left running on the server");
    }

    [Fact]
    public void Run_TimeoutLongerThanTheCall_ReturnsTheItem()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        run.ExitCode.Should().Be(0);
        run.Section(3).Line(@"^   \{ url: items/7, data: .+ \(id 7\), after [\d.]+ s \}$");
    }
}
