using System.Net;
using System.Net.Http.Json;
using AsyncPatterns.Samples.DemoApi;

namespace AsyncPatterns.IntegrationTests.Samples;

/// <summary>samples/DemoApi run on its own: it serves on the port it names until SIGTERM, then says what it served.</summary>
[Collection(SamplesCollection.Name)]
public sealed class DemoApiSampleTests
{
    [Fact]
    public async Task Run_PortZero_ServesEveryEndpointUntilTerminatedThenExitsZero()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var sample = SampleProcess.Start("DemoApi", ["--port", "0", "--items", "45"]);
        var listening = await sample.WaitForLineAsync(@"^DemoApi listening on (?<url>http://127\.0\.0\.1:\d+/) \(Ctrl\+C to stop\)$");
        using var http = new HttpClient { BaseAddress = new Uri(listening.Groups["url"].Value), Timeout = TimeSpan.FromSeconds(30) };

        var users = await http.GetFromJsonAsync("users?page=1&pageSize=3", DemoApiJsonContext.Default.IReadOnlyListUser, ct);
        var ids = new List<int>();
        string? cursor = null;
        do
        {
            var page = await http.GetFromJsonAsync($"items/cursor?limit=10&cursor={cursor}", DemoApiJsonContext.Default.CursorPage, ct);
            ids.AddRange(page!.Items.Select(item => item.Id));
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        using var linked = await http.GetAsync(new Uri("items/link?page=2&per_page=10", UriKind.Relative), ct);
        var details = await http.GetFromJsonAsync("items/7", DemoApiJsonContext.Default.ItemDetails, ct);
        using var missing = await http.GetAsync(new Uri("items/9999", UriKind.Relative), ct);

        await sample.TerminateAsync();
        var run = await sample.WaitForExitAsync();

        using var scope = run.Scope();
        run.Line(@"^  45 items, 20 users, latency 0 ms, ");
        users.Should().HaveCount(3);
        ids.Should().Equal(Enumerable.Range(1, 45), "the cursor pages hold every item once, in order");
        linked.StatusCode.Should().Be(HttpStatusCode.OK);
        linked.Headers.GetValues("Link").Should().ContainSingle().Which.Should().Contain("rel=\"next\"");
        details!.Id.Should().Be(7);
        missing.StatusCode.Should().Be(HttpStatusCode.NotFound);
        run.ExitCode.Should().Be(0, "SIGTERM stops it as Ctrl+C does");
        SampleRun.Int(run.Line(@"^Stopping after (?<requests>\d+) requests \(peak \d+ in flight\)\.$"), "requests").Should().BeGreaterThanOrEqualTo(8);
    }
}
