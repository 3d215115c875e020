using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using AsyncPatterns.IntegrationTests.TestSupport;
using AsyncPatterns.Pagination;

namespace AsyncPatterns.IntegrationTests.Pagination;

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ServerItem))]
[JsonSerializable(typeof(List<ServerItem>))]
[JsonSerializable(typeof(CursorPage))]
internal sealed partial class ServerJsonContext : JsonSerializerContext;

/// <summary>Every paginator kind against the loopback Kestrel server's pagination endpoints (250 items).</summary>
public sealed class PaginatorServerTests(LoopbackServerFixture fixture) : IClassFixture<LoopbackServerFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private LoopbackServer Server => fixture.Server;

    private HttpClient NewClient() => new() { BaseAddress = Server.BaseAddress };

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    private Paginator<ServerItem> Create(string kind, HttpClient client, int pageSize) => kind switch
    {
        "page" => Paginator.FromPageNumber<ServerItem>(
            async (page, size, ct) => (await client.GetFromJsonAsync($"items?page={page}&pageSize={size}", ServerJsonContext.Default.ListServerItem, ct))!,
            pageSize),
        "offset" => Paginator.FromOffset<ServerItem>(
            async (offset, limit, ct) => (await client.GetFromJsonAsync($"items/offset?offset={Invariant(offset)}&limit={limit}", ServerJsonContext.Default.ListServerItem, ct))!,
            pageSize),
        "cursor" => Paginator.FromCursor<ServerItem>(async (cursor, hint, ct) =>
        {
            var url = $"items/cursor?limit={hint ?? pageSize}" + (cursor is null ? string.Empty : "&cursor=" + Uri.EscapeDataString(cursor));
            var page = (await client.GetFromJsonAsync(url, ServerJsonContext.Default.CursorPage, ct))!;
            return new Page<ServerItem>(page.Items, page.NextCursor);
        }),
        "link" => Paginator.FromLinkHeader(client, new Uri($"items/link?page=1&per_page={pageSize}", UriKind.Relative), ServerJsonContext.Default.ServerItem),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [Theory]
    [InlineData("page", 0)]
    [InlineData("page", 2)]
    [InlineData("offset", 0)]
    [InlineData("offset", 2)]
    [InlineData("cursor", 0)]
    [InlineData("cursor", 2)]
    [InlineData("link", 0)]
    [InlineData("link", 2)]
    public async Task Enumerate_EveryKind_ReturnsExactlyTheServerItemsInOrder(string kind, int prefetch)
    {
        using var client = NewClient();
        Server.ResetCounters();

        var items = await ToListAsync(Create(kind, client, pageSize: 30).WithPrefetch(prefetch));

        items.Should().Equal(Server.Items);
        Server.Requests.Should().HaveCount(9, "250 items in pages of 30 is 8 full pages and a short one");
    }

    [Theory]
    [InlineData("page")]
    [InlineData("offset")]
    [InlineData("cursor")]
    [InlineData("link")]
    public async Task AsPages_ResumeFromThirdPageToken_ReturnsTheRest(string kind)
    {
        using var client = NewClient();
        var paginator = Create(kind, client, pageSize: 40);

        var firstThree = new List<Page<ServerItem>>();
        await foreach (var page in paginator.WithMaxPages(3).AsPages().WithCancellation(Ct))
        {
            firstThree.Add(page);
        }

        var rest = new List<ServerItem>();
        await foreach (var page in paginator.AsPages(firstThree[^1].ContinuationToken).WithCancellation(Ct))
        {
            rest.AddRange(page.Items);
        }

        firstThree.SelectMany(p => p.Items).Concat(rest).Should().Equal(Server.Items);
    }

    [Fact]
    public async Task Enumerate_BreakWithPrefetchAgainstSlowServer_LeavesNoRequestRunning()
    {
        using var client = NewClient();
        var paginator = Paginator.FromPageNumber<ServerItem>(
            async (page, size, ct) => (await client.GetFromJsonAsync($"items?page={page}&pageSize={size}&delayMs={(page == 1 ? 0 : 5_000)}", ServerJsonContext.Default.ListServerItem, ct))!,
            10).WithPrefetch(2);
        Server.ResetCounters();

        await foreach (var item in paginator.WithCancellation(Ct))
        {
            await FakeClock.WaitUntilAsync(() => Server.InFlight == 1, cancellationToken: Ct);
            break;
        }

        await FakeClock.WaitUntilAsync(() => Server.InFlight == 0, cancellationToken: Ct);
        Server.Requests.Should().HaveCount(2, "one page consumed and one prefetch, cancelled while the server held it");
    }

    private static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> source)
    {
        var list = new List<T>();
        await foreach (var item in source.WithCancellation(Ct))
        {
            list.Add(item);
        }

        return list;
    }
}
