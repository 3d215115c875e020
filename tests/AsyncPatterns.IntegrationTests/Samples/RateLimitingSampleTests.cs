namespace AsyncPatterns.IntegrationTests.Samples;

/// <summary>samples/RateLimiting: RequestRateLimiter(5 at once, 20 a second) with fast requests, then slow ones.</summary>
[Collection(SamplesCollection.Name)]
public sealed class RateLimitingSampleTests(RateLimitingSampleTests.Sample sample) : IClassFixture<RateLimitingSampleTests.Sample>
{
    public sealed class Sample() : SampleFixture("RateLimiting");

    [Theory]
    [InlineData(1, 30)]
    [InlineData(2, 20)]
    public void Run_EitherPhase_EveryRequestSucceedsWithinBothLimits(int section, int requests)
    {
        var run = sample.Run;

        using var scope = run.Scope();
        run.ExitCode.Should().Be(0);
        var phase = run.Section(section);
        var succeeded = phase.Line(@"^   (?<succeeded>\d+)/(?<requests>\d+) succeeded in ");
        SampleRun.Int(succeeded, "requests").Should().Be(requests);
        SampleRun.Int(succeeded, "succeeded").Should().Be(requests, "every request succeeded");
        SampleRun.Int(phase.Line(@"^   at most (?<peak>\d+) in flight on the server$"), "peak").Should().BeInRange(1, 5, "never more than 5 in flight");

        // With a burst of 1, n starts take at least (n - 1) / rate; 50 ms of slack for when each start was recorded.
        var spread = phase.Line(@"^   starts spread over (?<spread>[\d.]+) s \(the rate allows no less than (?<least>[\d.]+) s\)$");
        SampleRun.Double(spread, "least").Should().BeApproximately((requests - 1) / 20.0, 0.001);
        SampleRun.Double(spread, "spread").Should().BeGreaterThanOrEqualTo(SampleRun.Double(spread, "least") - 0.05, "never more than 20 starts a second");
    }

    [Fact]
    public void Run_SlowRequests_UseAllFiveSlots()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        SampleRun.Int(run.Section(2).Line(@"^   at most (?<peak>\d+) in flight on the server$"), "peak")
            .Should().Be(5, "all 5 slots were in use: the rate alone would have allowed more");
    }
}
