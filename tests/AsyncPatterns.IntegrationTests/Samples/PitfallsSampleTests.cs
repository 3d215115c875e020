namespace AsyncPatterns.IntegrationTests.Samples;

/// <summary>samples/Pitfalls: each of the five pitfalls measured the wrong way and the right way.</summary>
[Collection(SamplesCollection.Name)]
public sealed class PitfallsSampleTests(PitfallsSampleTests.Sample sample) : IClassFixture<PitfallsSampleTests.Sample>
{
    public sealed class Sample() : SampleFixture("Pitfalls");

    [Theory]
    [InlineData(1, "Blocking the thread pool")]
    [InlineData(2, "Forgetting to await")]
    [InlineData(3, "Sync-over-async under a single-threaded context")]
    [InlineData(4, "Skipping cleanup on cancellation")]
    [InlineData(5, "Unbounded concurrency")]
    public void Run_EachPitfall_MeasuredWrongThenRightAndTheRightWayAvoidsIt(int number, string title)
    {
        var run = sample.Run;

        using var scope = run.Scope();
        run.ExitCode.Should().Be(0);
        var pitfall = run.Section(number);
        pitfall.Lines[0].Should().StartWith($"{number}. {title}");
        pitfall.Matches(@"^   wrong: ").Should().ContainSingle();
        pitfall.Matches(@"^   right: ").Should().ContainSingle();
        pitfall.Matches(@"^   verdict: .*$").Should().ContainSingle()
            .Which.Value.Should().Be("   verdict: the right way avoided the pitfall");
    }

    [Fact]
    public void Run_AllPitfalls_SummaryCountsFiveAvoided()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        run.Line(@"^5 of 5 pitfalls avoided by the right way, in [\d.]+ s\.$");
    }
}
