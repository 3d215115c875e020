using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using AsyncPatterns.Samples.DemoApi;

namespace AsyncPatterns.IntegrationTests.Samples;

// Each test starts its own server on an ephemeral port, so the counters are exact.
public sealed partial class DemoApiServerTests
{
    private static readonly DemoApiJsonContext s_json = DemoApiJsonContext.Default;

    [Fact]
    public async Task StartAsync_PortZero_ListensOnAnEphemeralLoopbackPort()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var first = await DemoApiServer.StartAsync(new DemoApiOptions { Port = 0 }, ct);
        await using var second = await DemoApiServer.StartAsync(new DemoApiOptions { Port = 0 }, ct);
        using var http = new HttpClient();

        first.BaseAddress.Host.Should().Be("127.0.0.1");
        first.BaseAddress.Port.Should().BePositive();
        second.BaseAddress.Port.Should().NotBe(first.BaseAddress.Port);
        (await http.GetStringAsync(first.Url("health"), ct)).Should().Be("ok");
    }

    [Theory]
    [InlineData(nameof(DemoApiOptions.Port))]
    [InlineData(nameof(DemoApiOptions.ItemCount))]
    [InlineData(nameof(DemoApiOptions.FailureRate))]
    [InlineData(nameof(DemoApiOptions.MaxConcurrency))]
    public void StartAsync_InvalidOption_ThrowsSynchronouslyNamingTheProperty(string property)
    {
        var options = property switch
        {
            nameof(DemoApiOptions.Port) => new DemoApiOptions { Port = 70000 },
            nameof(DemoApiOptions.ItemCount) => new DemoApiOptions { ItemCount = -1 },
            nameof(DemoApiOptions.FailureRate) => new DemoApiOptions { FailureRate = 1.5 },
            _ => new DemoApiOptions { MaxConcurrency = 0 },
        };

        var start = () => { _ = DemoApiServer.StartAsync(options, TestContext.Current.CancellationToken); };

        start.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be(property);
    }

    [Fact]
    public async Task Items_PageNumbers_ReturnEveryItemInOrderThenAnEmptyPage()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await DemoApiServer.StartAsync(new DemoApiOptions { ItemCount = 47 }, ct);
        using var http = new HttpClient { BaseAddress = server.BaseAddress };

        var ids = new List<int>();
        for (var page = 1; ; page++)
        {
            using var response = await http.GetAsync($"items?page={page}&pageSize=10", ct);
            response.Headers.GetValues("X-Total-Count").Should().Equal("47");
            var items = await response.Content.ReadFromJsonAsync(s_json.IReadOnlyListItemSummary, ct);
            if (items!.Count == 0)
            {
                break;
            }

            ids.AddRange(items.Select(item => item.Id));
        }

        ids.Should().Equal(Enumerable.Range(1, 47));
    }

    [Fact]
    public async Task Items_OffsetAndLimit_ReturnEveryItemInOrder()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await DemoApiServer.StartAsync(new DemoApiOptions { ItemCount = 47 }, ct);
        using var http = new HttpClient { BaseAddress = server.BaseAddress };

        var ids = new List<int>();
        IReadOnlyList<ItemSummary> items;
        do
        {
            items = (await http.GetFromJsonAsync($"items/offset?offset={ids.Count}&limit=7", s_json.IReadOnlyListItemSummary, ct))!;
            ids.AddRange(items.Select(item => item.Id));
        }
        while (items.Count > 0);

        ids.Should().Equal(Enumerable.Range(1, 47));
    }

    [Fact]
    public async Task Items_Cursor_ReturnsEveryItemInOrderAndANullCursorOnTheLastPage()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await DemoApiServer.StartAsync(new DemoApiOptions { ItemCount = 47 }, ct);
        using var http = new HttpClient { BaseAddress = server.BaseAddress };

        var ids = new List<int>();
        var pages = 0;
        string? cursor = null;
        do
        {
            var page = await http.GetFromJsonAsync($"items/cursor?limit=10&cursor={cursor}", s_json.CursorPage, ct);
            ids.AddRange(page!.Items.Select(item => item.Id));
            cursor = page.NextCursor;
            pages++;
        }
        while (cursor is not null);

        ids.Should().Equal(Enumerable.Range(1, 47));
        pages.Should().Be(5);
    }

    [Fact]
    public async Task Items_LinkHeader_FollowingNextReturnsEveryItemInOrder()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await DemoApiServer.StartAsync(new DemoApiOptions { ItemCount = 47 }, ct);
        using var http = new HttpClient();

        var ids = new List<int>();
        Uri? next = server.Url("items/link?per_page=10");
        string? lastLink = null;
        while (next is not null)
        {
            using var response = await http.GetAsync(next, ct);
            var links = response.Headers.GetValues("Link").Single();
            ids.AddRange((await response.Content.ReadFromJsonAsync(s_json.IReadOnlyListItemSummary, ct))!.Select(item => item.Id));
            lastLink = LinkRel(links, "last");
            next = LinkRel(links, "next") is { } url ? new Uri(url) : null;
        }

        ids.Should().Equal(Enumerable.Range(1, 47));
        lastLink.Should().Be(server.Url("items/link?page=5&per_page=10").ToString());
    }

    [Fact]
    public async Task ItemDetails_EveryListedId_ReturnsDetailsOfThatItem()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await DemoApiServer.StartAsync(new DemoApiOptions { ItemCount = 12, UserCount = 5 }, ct);
        using var http = new HttpClient { BaseAddress = server.BaseAddress };

        var summaries = await http.GetFromJsonAsync("items?pageSize=100", s_json.IReadOnlyListItemSummary, ct);
        foreach (var summary in summaries!)
        {
            var details = await http.GetFromJsonAsync($"items/{summary.Id}", s_json.ItemDetails, ct);
            details!.Id.Should().Be(summary.Id);
            details.Name.Should().Be(summary.Name);
            details.Category.Should().Be(summary.Category);
            details.OwnerId.Should().BeInRange(1, 5);
            details.Price.Should().BePositive();
            details.Tags.Should().NotBeEmpty();
        }

        using var missing = await http.GetAsync("items/13", ct);
        missing.StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Users_ListAndDetails_ReturnTheSameUsers()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await DemoApiServer.StartAsync(new DemoApiOptions { UserCount = 8 }, ct);
        using var http = new HttpClient { BaseAddress = server.BaseAddress };

        var users = (await http.GetFromJsonAsync("users?pageSize=100", s_json.IReadOnlyListUser, ct))!;
        var third = await http.GetFromJsonAsync("users/3", s_json.User, ct);

        users.Select(user => user.Id).Should().Equal(Enumerable.Range(1, 8));
        third.Should().Be(users[2]);
        third!.Email.Should().EndWith("@example.com");
    }

    [Theory]
    [InlineData("items?page=0")]
    [InlineData("items?pageSize=101")]
    [InlineData("items/offset?offset=-1")]
    [InlineData("items/cursor?cursor=not-a-cursor")]
    public async Task Items_BadQuery_Returns400(string relative)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await DemoApiServer.StartAsync(new DemoApiOptions(), ct);
        using var http = new HttpClient();

        using var response = await http.GetAsync(server.Url(relative), ct);

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task TooManyRequestsRate_One_Returns429WithTheConfiguredRetryAfter()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await DemoApiServer.StartAsync(new DemoApiOptions { TooManyRequestsRate = 1, RetryAfterSeconds = 7 }, ct);
        using var http = new HttpClient();

        using var response = await http.GetAsync(server.Url("items/1"), ct);
        var error = await response.Content.ReadFromJsonAsync(s_json.ApiError, ct);

        response.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        response.Headers.RetryAfter!.Delta.Should().Be(TimeSpan.FromSeconds(7));
        error!.Status.Should().Be(429);
        server.Stats.TooManyRequests.Should().Be(1);
    }

    [Fact]
    public async Task Faults_ListsByDefault_AreNeverFaultedButDetailsAre()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await DemoApiServer.StartAsync(new DemoApiOptions { FailureRate = 1 }, ct);
        await using var faultyLists = await DemoApiServer.StartAsync(new DemoApiOptions { FailureRate = 1, FaultyLists = true }, ct);
        using var http = new HttpClient();

        using var list = await http.GetAsync(server.Url("items?page=1"), ct);
        using var details = await http.GetAsync(server.Url("items/1"), ct);
        using var faultyList = await http.GetAsync(faultyLists.Url("items/cursor"), ct);

        list.StatusCode.Should().Be(HttpStatusCode.OK);
        details.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        faultyList.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
    }

    [Fact]
    public async Task FailureRate_SameSeed_SameOutcomesInTheSameOrder()
    {
        var ct = TestContext.Current.CancellationToken;
        var options = new DemoApiOptions { FailureRate = 0.3, TooManyRequestsRate = 0.2, Seed = 42 };

        var first = await OutcomesAsync(options, 100, ct);
        var second = await OutcomesAsync(options, 100, ct);
        var otherSeed = await OutcomesAsync(new DemoApiOptions { FailureRate = 0.3, TooManyRequestsRate = 0.2, Seed = 43 }, 100, ct);

        second.Should().Equal(first);
        otherSeed.Should().NotEqual(first);
        first.Should().Contain(HttpStatusCode.OK).And.Contain(HttpStatusCode.InternalServerError).And.Contain(HttpStatusCode.TooManyRequests);
        first.Count(status => status == HttpStatusCode.InternalServerError).Should().BeInRange(15, 45, "30% of 100 requests, seed 42");
    }

    [Fact]
    public async Task FailureRate_ConcurrentRequests_SameSeedGivesTheSameCounts()
    {
        var ct = TestContext.Current.CancellationToken;
        var options = new DemoApiOptions { FailureRate = 0.25, TooManyRequestsRate = 0.1, Seed = 7 };
        var sequential = await OutcomesAsync(options, 60, ct);

        await using var server = await DemoApiServer.StartAsync(options, ct);
        using var http = new HttpClient();
        var concurrent = await Task.WhenAll(Enumerable.Range(1, 60).Select(async id =>
        {
            using var response = await http.GetAsync(server.Url($"items/{id}"), ct);
            return response.StatusCode;
        }));

        concurrent.Count(s => s == HttpStatusCode.InternalServerError).Should().Be(sequential.Count(s => s == HttpStatusCode.InternalServerError));
        concurrent.Count(s => s == HttpStatusCode.TooManyRequests).Should().Be(sequential.Count(s => s == HttpStatusCode.TooManyRequests));
        server.Stats.Failures.Should().Be(concurrent.Count(s => s == HttpStatusCode.InternalServerError));
    }

    [Fact]
    public async Task Latency_OnTheServersClock_HoldsTheResponseUntilItElapses()
    {
        var ct = TestContext.Current.CancellationToken;
        var time = FakeClock.Create();
        var clock = new TimerCountingClock(time);
        await using var server = await DemoApiServer.StartAsync(new DemoApiOptions { Latency = TimeSpan.FromSeconds(5), TimeProvider = clock }, ct);
        using var http = new HttpClient();

        var request = http.GetAsync(server.Url("items/3"), ct);
        await FakeClock.WaitUntilAsync(() => clock.TimersCreated == 1, cancellationToken: ct);
        await time.AdvanceAsync(TimeSpan.FromSeconds(4));
        request.IsCompleted.Should().BeFalse("4 of the 5 seconds of latency have passed");

        await time.AdvanceAsync(TimeSpan.FromSeconds(1));
        using var response = await request.WaitAsync(FakeClock.HangTimeout, ct);

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        server.InFlight.Should().Be(0);
    }

    [Fact]
    public async Task MaxConcurrency_MoreRequestsThanTheCap_RejectsTheExcessWith503()
    {
        var ct = TestContext.Current.CancellationToken;
        var time = FakeClock.Create();
        var clock = new TimerCountingClock(time);
        await using var server = await DemoApiServer.StartAsync(
            new DemoApiOptions { MaxConcurrency = 3, Latency = TimeSpan.FromSeconds(1), TimeProvider = clock }, ct);
        using var http = new HttpClient();

        var held = Enumerable.Range(1, 3).Select(id => http.GetAsync(server.Url($"items/{id}"), ct)).ToArray();
        await FakeClock.WaitUntilAsync(() => clock.TimersCreated == 3, cancellationToken: ct);
        using var rejected = await http.GetAsync(server.Url("items/4"), ct);
        await time.AdvanceAsync(TimeSpan.FromSeconds(1));
        var served = await Task.WhenAll(held).WaitAsync(FakeClock.HangTimeout, ct);

        rejected.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        served.Should().OnlyContain(response => response.StatusCode == HttpStatusCode.OK);
        server.Stats.Should().Be(new DemoApiStats(Requests: 4, InFlight: 0, PeakInFlight: 4, Failures: 0, TooManyRequests: 0, Rejected: 1));
        foreach (var response in served)
        {
            response.Dispose();
        }
    }

    // The fake clock, counting the timers the server starts: a test knows the latency delay has begun before it advances.
    private sealed class TimerCountingClock(TimeProvider inner) : TimeProvider
    {
        private int _timersCreated;

        public int TimersCreated => Volatile.Read(ref _timersCreated);

        public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

        public override long GetTimestamp() => inner.GetTimestamp();

        public override long TimestampFrequency => inner.TimestampFrequency;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = inner.CreateTimer(callback, state, dueTime, period);
            Interlocked.Increment(ref _timersCreated);
            return timer;
        }
    }

    private static async Task<List<HttpStatusCode>> OutcomesAsync(DemoApiOptions options, int count, CancellationToken ct)
    {
        await using var server = await DemoApiServer.StartAsync(options, ct);
        using var http = new HttpClient();
        var outcomes = new List<HttpStatusCode>();
        for (var id = 1; id <= count; id++)
        {
            using var response = await http.GetAsync(server.Url($"items/{id}"), ct);
            outcomes.Add(response.StatusCode);
        }

        return outcomes;
    }

    private static string? LinkRel(string header, string rel) =>
        LinkPattern().Matches(header).FirstOrDefault(m => m.Groups["rel"].Value == rel)?.Groups["url"].Value;

    [GeneratedRegex("<(?<url>[^>]+)>;\\s*rel=\"(?<rel>[^\"]+)\"")]
    private static partial Regex LinkPattern();
}
