namespace AsyncPatterns.IntegrationTests.Samples;

/// <summary>samples/Http: ConcurrentHttpFetcher.FetchAllAsync over 12 users, a 404, a slow server and a closed port.</summary>
[Collection(SamplesCollection.Name)]
public sealed class HttpSampleTests(HttpSampleTests.Sample sample) : IClassFixture<HttpSampleTests.Sample>
{
    private const int Users = 12;

    public sealed class Sample() : SampleFixture("Http");

    [Fact]
    public void Run_MixedUrls_OneResultPerUrlInInputOrder()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        run.ExitCode.Should().Be(0);
        run.Line(@"^Fetching (?<urls>\d+) URLs, at most 8 at once");
        var results = Results(run);
        results.Should().HaveCount(Users + 3, "one result per URL");
        results.Take(Users).Select(result => result.Groups["url"].Value)
            .Should().Equal(Enumerable.Range(1, Users).Select(id => $"users/{id}"), (url, expected) => url.EndsWith("/" + expected, StringComparison.Ordinal), "in input order");
        results[Users].Groups["url"].Value.Should().EndWith("/users/9999");
        results[Users + 1].Groups["url"].Value.Should().EndWith("/users/1");
        results[Users + 2].Groups["url"].Value.Should().EndWith("/users/1");
        var summary = run.Line(@"^(?<results>\d+) results: (?<succeeded>\d+) succeeded, (?<failed>\d+) failed; the demo API saw at most (?<peak>\d+) requests at once$");
        SampleRun.Int(summary, "results").Should().Be(Users + 3);
    }

    [Fact]
    public void Run_EveryUser_FetchedWithItsOwnData()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        var users = Results(run).Take(Users).ToArray();
        users.Should().HaveCount(Users);
        users.Select(user => user.Groups["status"].Value).Should().AllBe("200", $"all {Users} users fetched");
        users.Select(user => SampleRun.Int(user, "id")).Should().Equal(Enumerable.Range(1, Users), "each result holds the user of its URL");
    }

    [Fact]
    public void Run_FailingUrls_AreErrorResultsOfTheirKindNotExceptions()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        var results = Results(run);
        results.Should().HaveCount(Users + 3);
        results[Users].Groups["kind"].Value.Should().Be("HttpStatus 404", "the missing user is an HttpStatus error (404)");
        results[Users + 1].Groups["kind"].Value.Should().Be("Timeout", "the slow server is a Timeout error");
        results[Users + 2].Groups["kind"].Value.Should().Be("Network", "the closed port is a Network error");
    }

    [Fact]
    public void Run_MaxConcurrencyEight_TheServerNeverSawMoreThanEight()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        var summary = run.Line(@"^\d+ results: (?<succeeded>\d+) succeeded, (?<failed>\d+) failed; the demo API saw at most (?<peak>\d+) requests at once$");
        SampleRun.Int(summary, "succeeded").Should().Be(Users);
        SampleRun.Int(summary, "failed").Should().Be(3);
        SampleRun.Int(summary, "peak").Should().BeInRange(1, 8, "never more than 8 requests in flight");
    }

    private static IReadOnlyList<System.Text.RegularExpressions.Match> Results(SampleRun run) =>
        run.Matches(@"^   \{ url: (?<url>\S+), (status: (?<status>\d+), data: .+ \(id (?<id>\d+)\)|error: (?<kind>\w+( \d+)?): .*) \}$");
}
