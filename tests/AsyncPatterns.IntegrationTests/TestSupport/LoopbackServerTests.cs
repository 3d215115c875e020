using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace AsyncPatterns.IntegrationTests.TestSupport;

// Each test starts its own server: the counters are then exact.
public sealed class LoopbackServerTests
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task StartAsync_ListensOnLoopbackOnly()
    {
        await using var server = await LoopbackServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);

        server.BaseAddress.Host.Should().Be("127.0.0.1");
        server.BaseAddress.Port.Should().BePositive();
    }

    [Fact]
    public async Task RateLimited_ScriptedTooManyRequests_Returns429WithRetryAfterThen200()
    {
        await using var server = await LoopbackServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        using var client = new HttpClient();
        var ct = TestContext.Current.CancellationToken;
        var url = server.Url("ratelimited?key=a&times=2&retryAfter=7");

        using var first = await client.GetAsync(url, ct);
        using var second = await client.GetAsync(url, ct);
        using var third = await client.GetAsync(url, ct);

        first.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        first.Headers.RetryAfter!.Delta.Should().Be(TimeSpan.FromSeconds(7));
        second.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        third.StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task InFlight_TwentyConcurrentHeldRequests_PeakIsTwentyAsSeenByTheServer()
    {
        await using var server = await LoopbackServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        using var client = new HttpClient();
        var ct = TestContext.Current.CancellationToken;

        var requests = Enumerable.Range(0, 20).Select(_ => client.GetAsync(server.Url("hold/gate"), ct)).ToArray();
        await FakeClock.WaitUntilAsync(() => server.InFlight == 20, cancellationToken: ct);
        server.PeakInFlight.Should().Be(20);

        server.Release("gate");
        var responses = await Task.WhenAll(requests);

        responses.Should().OnlyContain(r => r.StatusCode == HttpStatusCode.OK);
        await FakeClock.WaitUntilAsync(() => server.InFlight == 0, cancellationToken: ct);
        server.PeakInFlight.Should().Be(20);
        server.AcceptedConnections.Should().Be(20);
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task Pagination_EveryStyle_ReturnsEveryItemInOrder()
    {
        await using var server = await LoopbackServer.StartAsync(itemCount: 95, cancellationToken: TestContext.Current.CancellationToken);
        using var client = new HttpClient();
        var ct = TestContext.Current.CancellationToken;
        var expected = server.Items.Select(i => i.Id).ToList();

        var byPage = new List<ServerItem>();
        for (var page = 1; ; page++)
        {
            var items = await client.GetFromJsonAsync<List<ServerItem>>(server.Url($"items?page={page}&pageSize=10"), s_json, ct);
            if (items!.Count == 0)
            {
                break;
            }

            byPage.AddRange(items);
        }

        var byOffset = new List<ServerItem>();
        for (var offset = 0; ; offset += 20)
        {
            var items = await client.GetFromJsonAsync<List<ServerItem>>(server.Url($"items/offset?offset={offset}&limit=20"), s_json, ct);
            if (items!.Count == 0)
            {
                break;
            }

            byOffset.AddRange(items);
        }

        var byCursor = new List<ServerItem>();
        string? cursor = null;
        do
        {
            var page = await client.GetFromJsonAsync<CursorPage>(server.Url($"items/cursor?limit=30&cursor={Uri.EscapeDataString(cursor ?? "")}"), s_json, ct);
            byCursor.AddRange(page!.Items);
            cursor = page.NextCursor;
        }
        while (cursor is not null);

        var byLink = new List<ServerItem>();
        Uri? next = server.Url("items/link?per_page=25");
        while (next is not null)
        {
            using var response = await client.GetAsync(next, ct);
            byLink.AddRange((await response.Content.ReadFromJsonAsync<List<ServerItem>>(s_json, ct))!);
            var link = response.Headers.GetValues("Link").Single();
            next = link.Split(", ").Where(l => l.EndsWith("rel=\"next\"", StringComparison.Ordinal))
                .Select(l => new Uri(l[1..l.IndexOf('>', StringComparison.Ordinal)])).SingleOrDefault();
        }

        byPage.Select(i => i.Id).Should().Equal(expected);
        byOffset.Select(i => i.Id).Should().Equal(expected);
        byCursor.Select(i => i.Id).Should().Equal(expected);
        byLink.Select(i => i.Id).Should().Equal(expected);
    }

    [Fact]
    public async Task Large_ChunkedBody_HasNoContentLengthAndEveryByte()
    {
        await using var server = await LoopbackServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        using var client = new HttpClient();
        var ct = TestContext.Current.CancellationToken;

        using var response = await client.GetAsync(server.Url("large?bytes=300000"), HttpCompletionOption.ResponseHeadersRead, ct);
        response.Content.Headers.ContentLength.Should().BeNull();
        response.Headers.TransferEncodingChunked.Should().BeTrue();
        var body = await response.Content.ReadAsByteArrayAsync(ct);

        body.Should().HaveCount(300_000);
    }

    [Fact]
    public async Task Reset_AbortsTheConnection()
    {
        await using var server = await LoopbackServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        using var client = new HttpClient();

        var act = () => client.GetAsync(server.Url("reset"), TestContext.Current.CancellationToken);

        await act.Should().ThrowAsync<HttpRequestException>();
    }

    [Fact]
    public async Task Flaky_FailureRate_FailsAboutThatShareDeterministically()
    {
        await using var server = await LoopbackServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        server.FailureRate = 0.3;
        using var client = new HttpClient();
        var ct = TestContext.Current.CancellationToken;

        async Task<int> CountFailuresAsync()
        {
            var failures = 0;
            for (var i = 0; i < 100; i++)
            {
                using var response = await client.GetAsync(server.Url("flaky"), ct);
                failures += response.StatusCode == HttpStatusCode.InternalServerError ? 1 : 0;
            }

            return failures;
        }

        var first = await CountFailuresAsync();
        server.ResetCounters();
        var second = await CountFailuresAsync();

        first.Should().BeInRange(15, 45);
        second.Should().Be(first, "the failures are seeded");
    }

    [Fact]
    public async Task Delay_And_Fail_QueryParameters_ApplyToAnyEndpoint()
    {
        await using var server = await LoopbackServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        using var client = new HttpClient();
        var ct = TestContext.Current.CancellationToken;

        using var failed = await client.GetAsync(server.Url("items/1?fail=true"), ct);
        using var delayed = await client.GetAsync(server.Url("items/2?delayMs=20"), ct);

        failed.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        (await delayed.Content.ReadFromJsonAsync<ServerItem>(s_json, ct)).Should().Be(LoopbackServer.CreateItem(2));
        server.Requests.Select(r => r.Path).Should().Equal("/items/1?fail=true", "/items/2?delayMs=20");
    }

    [Fact]
    public async Task Connections_KeepAlive_ReusesOneConnectionForSequentialRequests()
    {
        await using var server = await LoopbackServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        using var client = new HttpClient();
        var ct = TestContext.Current.CancellationToken;

        for (var i = 1; i <= 10; i++)
        {
            using var response = await client.GetAsync(server.Url($"items/{i}"), ct);
            response.EnsureSuccessStatusCode();
        }

        server.AcceptedConnections.Should().Be(1);
        server.Requests.Select(r => r.ConnectionId).Distinct().Should().HaveCount(1);
    }
}
