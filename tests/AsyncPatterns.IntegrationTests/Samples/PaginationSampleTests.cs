namespace AsyncPatterns.IntegrationTests.Samples;

/// <summary>samples/Pagination: Paginator.FromPageNumber over 150 items in pages of 50, then AsyncCursor over 500 rows.</summary>
[Collection(SamplesCollection.Name)]
public sealed class PaginationSampleTests(PaginationSampleTests.Sample sample) : IClassFixture<PaginationSampleTests.Sample>
{
    public sealed class Sample() : SampleFixture("Pagination");

    [Fact]
    public void Run_EveryPage_EachItemOnceInOrderWithOneRequestPerPagePlusTheEmptyOne()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        run.ExitCode.Should().Be(0);
        var all = run.Section(1);
        var summary = all.Line(@"^   processed (?<count>\d+) items, ids (?<runs>.+), with (?<requests>\d+) requests$");
        SampleRun.Int(summary, "count").Should().Be(150);
        summary.Groups["runs"].Value.Should().Be("1-150", "items 1 to 150, each once, in order");
        SampleRun.Int(summary, "requests").Should().Be(4, "one request per page, plus the empty page that ends the stream");
        all.Matches(@"^   GET items\?page=(?<page>\d+)&pageSize=50   \((?<processed>\d+) items processed so far\)$")
            .Select(get => (SampleRun.Int(get, "page"), SampleRun.Int(get, "processed")))
            .Should().Equal([(1, 0), (2, 50), (3, 100), (4, 150)], "each page is requested only when the loop reaches it");
    }

    [Fact]
    public void Run_BreakInTheSecondPage_NoLaterPageRequested()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        var early = run.Section(2);
        early.Line(@"^   stopped after 60 items, 2 requests$");
        early.Matches(@"^   GET items\?page=").Should().HaveCount(2, "only the two pages that were read were requested");
    }

    [Fact]
    public void Run_AsyncCursor_FiveBatchesOfOneHundredRows()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        run.Section(3).Matches(@"^   batch (?<n>\d+): (?<rows>\d+) rows, ids (?<first>\d+) to (?<last>\d+)$")
            .Select(batch => (SampleRun.Int(batch, "n"), SampleRun.Int(batch, "rows"), SampleRun.Int(batch, "first"), SampleRun.Int(batch, "last")))
            .Should().Equal(Enumerable.Range(0, 5).Select(n => (n + 1, 100, (n * 100) + 1, (n + 1) * 100)), "500 rows in 5 batches of 100");
    }
}
