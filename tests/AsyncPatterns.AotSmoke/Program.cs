using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.RateLimiting;
using AsyncPatterns;
using AsyncPatterns.BackgroundTasks;
using AsyncPatterns.Connections;
using AsyncPatterns.Http;
using AsyncPatterns.Pagination;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.Retries;
using AsyncPatterns.TaskGroups;
using AsyncPatterns.Timeouts;
using Microsoft.Extensions.DependencyInjection;
using Polly;

// Calls every namespace of AsyncPatterns from a Native AOT binary. Each check prints one line; the process exits
// non-zero when any fails. The publish step (warnings as errors) is the other half of the test.
var checks = new List<(string Name, Func<Task<bool>> Check)>
{
    ("Timeouts: a slow operation times out, a fast one completes", async () =>
    {
        TimeoutResult<int> slow = await OperationTimeout.TryRunAsync(
            async ct =>
            {
                await Task.Delay(Timeout.Infinite, ct);
                return 1;
            },
            TimeSpan.FromMilliseconds(20));
        int fast = await OperationTimeout.RunAsync(_ => Task.FromResult(2), TimeSpan.FromSeconds(30));
        return slow.TimedOut && fast == 2;
    }),
    ("Retries: a flaky operation succeeds on its third attempt", async () =>
    {
        int calls = 0;
        int value = await Retry.ExecuteAsync(
            _ => ++calls < 3 ? throw new IOException("flaky") : Task.FromResult(calls),
            new RetryOptions { MaxRetries = 3, BaseDelay = TimeSpan.FromMilliseconds(1), UseJitter = false });
        return value == 3;
    }),
    ("Retries: the HTTP pipeline retries a 503 and returns the 200", async () =>
    {
        var handler = new ScriptedHandler(HttpStatusCode.ServiceUnavailable, HttpStatusCode.OK);
        using var client = new HttpClient(handler);
        ResiliencePipeline<HttpResponseMessage> pipeline = HttpRetry.CreatePipeline(
            new RetryOptions { MaxRetries = 2, BaseDelay = TimeSpan.FromMilliseconds(1) });
        using HttpResponseMessage response = await pipeline.ExecuteAsync(
            async ct => await client.GetAsync(new Uri("http://aot.test/flaky"), ct));
        return response.StatusCode == HttpStatusCode.OK && handler.Calls == 2;
    }),
    ("RateLimiting: a concurrency permit is held for the lease's lifetime", async () =>
    {
        using var limiter = new RequestRateLimiter(new RequestRateLimiterOptions { MaxConcurrency = 1 });
        using (RateLimitLease lease = await limiter.AcquireAsync())
        {
            using RateLimitLease second = limiter.AttemptAcquire();
            if (!lease.IsAcquired || second.IsAcquired)
            {
                return false;
            }
        }

        using RateLimitLease third = limiter.AttemptAcquire();
        return third.IsAcquired;
    }),
    ("TaskGroups: a failing child cancels its sibling and is reported", async () =>
    {
        try
        {
            await TaskGroup.RunAsync(group =>
            {
                _ = group.Run(ct => Task.Delay(Timeout.Infinite, ct), "sibling");
                _ = group.Run(_ => throw new InvalidOperationException("boom"), "failing");
                return Task.CompletedTask;
            });
            return false;
        }
        catch (TaskGroupException ex)
        {
            return ex.InnerExceptions.Count == 1 && ex.InnerException is InvalidOperationException;
        }
    }),
    ("TaskGroups: ForEachAsync keeps the input order", async () =>
    {
        IReadOnlyList<int> squares = await TaskGroup.ForEachAsync(
            Enumerable.Range(1, 20), 4, async (i, ct) =>
            {
                await Task.Yield();
                return i * i;
            });
        return squares.SequenceEqual(Enumerable.Range(1, 20).Select(i => i * i));
    }),
    ("BackgroundTasks: shutdown cancels running work and reports it", async () =>
    {
        var tracker = new BackgroundTaskTracker();
        bool started = tracker.TryStart(ct => Task.Delay(Timeout.Infinite, ct), "worker");
        ShutdownReport report = await tracker.ShutdownAsync(TimeSpan.FromSeconds(10));
        return started && report.Cancelled == 1 && report.IsClean && tracker.InFlight == 0;
    }),
    ("Pagination: page-number pages stream item by item", async () =>
    {
        var items = new List<int>();
        await foreach (int item in Paginator.FromPageNumber<int>(
            (page, size, _) => Task.FromResult<IReadOnlyList<int>>(page <= 3 ? [.. Enumerable.Range((page - 1) * size, size)] : []),
            pageSize: 2))
        {
            items.Add(item);
        }

        return items.SequenceEqual(Enumerable.Range(0, 6));
    }),
    ("Pagination: the Link-header paginator follows rel=next with source-generated JSON", async () =>
    {
        using var client = new HttpClient(new LinkPagesHandler());
        var ids = new List<int>();
        await foreach (AotItem item in Paginator.FromLinkHeader(client, new Uri("http://aot.test/items?page=1"), AotJson.Default.AotItem))
        {
            ids.Add(item.Id);
        }

        return ids.SequenceEqual([1, 2, 3, 4]);
    }),
    ("Connections: a returned connection is reused", async () =>
    {
        int created = 0;
        await using var pool = new AsyncConnectionPool<object>(_ => ValueTask.FromResult<object>(++created), maxSize: 2);
        for (int i = 0; i < 3; i++)
        {
            await using PooledConnection<object> lease = await pool.AcquireAsync();
            _ = lease.Connection;
        }

        return created == 1;
    }),
    ("Http: every URL gets a typed result through source-generated JSON, failures included", async () =>
    {
        using var client = new HttpClient(new ItemsHandler());
        IReadOnlyList<FetchResult<AotItem>> results = await new ConcurrentHttpFetcher(client).FetchAllAsync(
            [new Uri("http://aot.test/items/7"), new Uri("http://aot.test/missing")], AotJson.Default.AotItem);
        return results.Count == 2 && results[0].Value?.Id == 7 && results[1].Error?.Kind == FetchErrorKind.HttpStatus;
    }),
    ("DependencyInjection: a registered fetcher and a rate-limited client resolve and work", async () =>
    {
        var services = new ServiceCollection();
        services.AddRequestRateLimiter("api", o => o.PermitsPerSecond = 1000);
        services.AddConcurrentHttpFetcher("api", o => o.MaxConcurrency = 2)
            .AddRateLimiter("api")
            .ConfigurePrimaryHttpMessageHandler(() => new ItemsHandler());
        await using ServiceProvider provider = services.BuildServiceProvider(validateScopes: true);
        var fetcher = provider.GetRequiredKeyedService<ConcurrentHttpFetcher>("api");
        IReadOnlyList<FetchResult<RawResponse>> results = await fetcher.FetchAllRawAsync(
            [new Uri("http://aot.test/items/1"), new Uri("http://aot.test/items/2")]);
        return results.All(r => r.IsSuccess);
    }),
};

int failed = 0;
foreach ((string name, Func<Task<bool>> check) in checks)
{
    bool ok;
    try
    {
        ok = await check();
    }
    catch (Exception ex)
    {
        Console.WriteLine($"  error: {ex}");
        ok = false;
    }

    Console.WriteLine($"{(ok ? "ok  " : "FAIL")} {name}");
    failed += ok ? 0 : 1;
}

Console.WriteLine($"aot: {checks.Count - failed} passed, {failed} failed");
return failed == 0 ? 0 : 1;

/// <summary>An item of the fake API.</summary>
/// <param name="Id">The item's id.</param>
/// <param name="Name">The item's name.</param>
internal sealed record AotItem(int Id, string Name);

/// <summary>Source-generated JSON metadata, with the web defaults (camelCase) that GetFromJsonAsync uses.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(AotItem))]
[JsonSerializable(typeof(List<AotItem>))]
internal sealed partial class AotJson : JsonSerializerContext;

/// <summary>Answers the status codes of its script in order, then 200s, without a network.</summary>
internal sealed class ScriptedHandler(params HttpStatusCode[] script) : HttpMessageHandler
{
    private int _calls;

    public int Calls => _calls;

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        int call = Interlocked.Increment(ref _calls) - 1;
        HttpStatusCode status = call < script.Length ? script[call] : HttpStatusCode.OK;
        return Task.FromResult(new HttpResponseMessage(status) { RequestMessage = request, Content = new StringContent("{}") });
    }
}

/// <summary>Answers /items/{id} with an item and anything else with 404, without a network.</summary>
internal sealed class ItemsHandler : HttpMessageHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        string path = request.RequestUri!.AbsolutePath;
        HttpResponseMessage response = path.StartsWith("/items/", StringComparison.Ordinal)
            && int.TryParse(path["/items/".Length..], out int id)
            ? new HttpResponseMessage(HttpStatusCode.OK)
            {
                Content = new StringContent($$"""{"id":{{id}},"name":"item {{id}}"}""", System.Text.Encoding.UTF8, "application/json"),
            }
            : new HttpResponseMessage(HttpStatusCode.NotFound) { Content = new StringContent("") };
        response.RequestMessage = request;
        return Task.FromResult(response);
    }
}

/// <summary>Two pages of two items, linked by a Link header, without a network.</summary>
internal sealed class LinkPagesHandler : HttpMessageHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        bool first = request.RequestUri!.Query.Contains("page=1", StringComparison.Ordinal);
        string body = first
            ? """[{"id":1,"name":"a"},{"id":2,"name":"b"}]"""
            : """[{"id":3,"name":"c"},{"id":4,"name":"d"}]""";
        var response = new HttpResponseMessage(HttpStatusCode.OK)
        {
            RequestMessage = request,
            Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
        };
        if (first)
        {
            response.Headers.TryAddWithoutValidation("Link", "</items?page=2>; rel=\"next\"");
        }

        return Task.FromResult(response);
    }
}
