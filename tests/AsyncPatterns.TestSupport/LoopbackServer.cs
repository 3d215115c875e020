using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AsyncPatterns.TestSupport;

/// <summary>An item of the loopback server's data set.</summary>
/// <param name="Id">The key, from 1 to <see cref="LoopbackServer.ItemCount"/>.</param>
/// <param name="Name">A name derived from the key.</param>
/// <param name="Price">A price derived from the key.</param>
public sealed record ServerItem(int Id, string Name, decimal Price);

/// <summary>A page of the cursor endpoint.</summary>
/// <param name="Items">The items of the page.</param>
/// <param name="NextCursor">The cursor of the next page, or null on the last page.</param>
public sealed record CursorPage(IReadOnlyList<ServerItem> Items, string? NextCursor);

/// <summary>A request as the server saw it arrive.</summary>
/// <param name="Path">The path and query.</param>
/// <param name="ArrivedAt">Real time of arrival, from the server's stopwatch (<see cref="TimeProvider.GetTimestamp"/>).</param>
/// <param name="ConnectionId">The id of the connection that carried it.</param>
public sealed record ServerRequest(string Path, long ArrivedAt, string ConnectionId);

/// <summary>
/// A real Kestrel server on 127.0.0.1 with an ephemeral port, for integration tests and benchmarks. It serves a data
/// set of <see cref="ItemCount"/> items through every pagination style, and endpoints that misbehave on request.
/// It counts requests in flight and connections as the server sees them.
/// </summary>
/// <remarks>
/// Endpoints (every one also takes <c>?delayMs=N</c>, a real delay before answering, and <c>?fail=true</c>, a 500):
/// <list type="bullet">
/// <item><c>GET /items/{id}</c>: one item as JSON; 404 outside the data set.</item>
/// <item><c>GET /items?page=P&amp;pageSize=S</c>: page P (from 1) as a JSON array; empty past the end.</item>
/// <item><c>GET /items/offset?offset=O&amp;limit=L</c>: a JSON array from offset O.</item>
/// <item><c>GET /items/cursor?cursor=C&amp;limit=L</c>: <see cref="CursorPage"/>; the cursor is opaque.</item>
/// <item><c>GET /items/link?page=P&amp;per_page=S</c>: a JSON array with a GitHub-style <c>Link</c> header (<c>rel="next"</c>, <c>rel="last"</c>).</item>
/// <item><c>GET /flaky?key=K</c>: fails with 500 with probability <see cref="FailureRate"/> (seeded), else an item.</item>
/// <item><c>GET /ratelimited?key=K&amp;times=N&amp;retryAfter=S</c>: 429 with <c>Retry-After: S</c> for the first N hits of K, then 200.</item>
/// <item><c>GET /status/{code}</c>: an empty response with that status.</item>
/// <item><c>GET /large?bytes=N</c>: N bytes, chunked, without Content-Length.</item>
/// <item><c>GET /largejson?bytes=N</c>: a valid JSON object whose <c>name</c> holds N bytes, chunked, without Content-Length.</item>
/// <item><c>GET /reset</c>: aborts the connection (the client sees a reset).</item>
/// <item><c>GET /hold/{key}</c>: waits until <see cref="Release"/> is called for the key (or the request is aborted), then 200.</item>
/// </list>
/// Fault injection (each body is the JSON array of items 1 to 20, as <c>/items?pageSize=20</c> would send it):
/// <list type="bullet">
/// <item><c>GET /fault/reset-mid-body</c>: announces the full Content-Length, writes half the body, then aborts the connection.</item>
/// <item><c>GET /fault/slowloris</c>: sends no response byte at all until the client aborts.</item>
/// <item><c>GET /fault/stall-mid-body</c>: announces the full Content-Length, writes half the body, then waits until the client aborts.</item>
/// <item><c>GET /fault/truncated-json</c>: a complete 200 response whose JSON document is cut in half.</item>
/// <item><c>GET /fault/redirect-loop</c>: 302 to itself, forever.</item>
/// <item><c>GET /fault/huge-header?bytes=N</c>: 200 with a header of N bytes (default 256 KiB), beyond any client's header limit.</item>
/// </list>
/// </remarks>
public sealed class LoopbackServer : IAsyncDisposable
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ServerRequest> _requests = new();
    private readonly ConcurrentDictionary<string, int> _hits = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _holds = new(StringComparer.Ordinal);
    private readonly Lock _randomLock = new();
    private Random _random;
    private int _inFlight;
    private int _peakInFlight;
    private int _acceptedConnections;
    private int _openConnections;

    private LoopbackServer(WebApplication app, int itemCount, int seed)
    {
        _app = app;
        ItemCount = itemCount;
        _random = new Random(seed);
    }

    /// <summary>The base address, <c>http://127.0.0.1:{port}/</c>.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The size of the data set.</summary>
    public int ItemCount { get; }

    /// <summary>The probability that <c>/flaky</c> fails (and that any endpoint fails, with <see cref="FailEverywhere"/>).</summary>
    public double FailureRate { get; set; }

    /// <summary>When true, <see cref="FailureRate"/> applies to every item endpoint, not only <c>/flaky</c>.</summary>
    public bool FailEverywhere { get; set; }

    /// <summary>Requests being handled now.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>The most requests ever handled at once (since the start or <see cref="ResetCounters"/>).</summary>
    public int PeakInFlight => Volatile.Read(ref _peakInFlight);

    /// <summary>Connections accepted (since the start or <see cref="ResetCounters"/>).</summary>
    public int AcceptedConnections => Volatile.Read(ref _acceptedConnections);

    /// <summary>Connections open now.</summary>
    public int OpenConnections => Volatile.Read(ref _openConnections);

    /// <summary>Every request received (since the start or <see cref="ResetCounters"/>), in arrival order.</summary>
    public IReadOnlyList<ServerRequest> Requests => [.. _requests];

    /// <summary>The items of the data set, in key order.</summary>
    public IEnumerable<ServerItem> Items => Enumerable.Range(1, ItemCount).Select(CreateItem);

    /// <summary>Starts a server on 127.0.0.1 with an ephemeral port.</summary>
    /// <param name="itemCount">The size of the data set.</param>
    /// <param name="seed">The random seed of the failures, so every run draws the same.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public static async Task<LoopbackServer> StartAsync(int itemCount = 250, int seed = 12345, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        LoopbackServer? server = null;
        builder.WebHost.UseKestrel(options =>
        {
            options.Limits.MaxConcurrentConnections = null;
            options.Listen(IPAddress.Loopback, 0, listen => listen.Use(next => async connection =>
            {
                Interlocked.Increment(ref server!._acceptedConnections);
                Interlocked.Increment(ref server._openConnections);
                try
                {
                    await next(connection);
                }
                finally
                {
                    Interlocked.Decrement(ref server._openConnections);
                }
            }));
        });

        var app = builder.Build();
        server = new LoopbackServer(app, itemCount, seed);
        server.MapEndpoints();
        server.MapFaultEndpoints();
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseAddress = new Uri(address.EndsWith('/') ? address : address + "/");
        return server;
    }

    /// <summary>Makes a URI on this server from a relative path and query.</summary>
    public Uri Url(string relative) => new(BaseAddress, relative);

    /// <summary>Releases every request waiting on <c>/hold/{key}</c>, now and later.</summary>
    public void Release(string key) => _holds.GetOrAdd(key, _ => NewHold()).TrySetResult();

    /// <summary>Forgets requests, hits, peaks and accepted-connection counts (not connections open now) and reseeds the failures.</summary>
    public void ResetCounters(int seed = 12345)
    {
        _requests.Clear();
        _hits.Clear();
        Volatile.Write(ref _peakInFlight, InFlight);
        Volatile.Write(ref _acceptedConnections, 0);
        lock (_randomLock)
        {
            _random = new Random(seed);
        }
    }

    /// <summary>The item with key <paramref name="id"/>.</summary>
    public static ServerItem CreateItem(int id) =>
        new(id, "item-" + id.ToString(CultureInfo.InvariantCulture), Math.Round(id * 1.25m, 2));

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var hold in _holds.Values)
        {
            hold.TrySetResult();
        }

        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static TaskCompletionSource NewHold() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static int Query(HttpContext context, string name, int fallback) =>
        int.TryParse(context.Request.Query[name], NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : fallback;

    private static Task WriteJsonAsync<T>(HttpContext context, T value) =>
        context.Response.WriteAsJsonAsync(value, s_json, context.RequestAborted);

    private bool ShouldFail()
    {
        lock (_randomLock)
        {
            return _random.NextDouble() < FailureRate;
        }
    }

    private IReadOnlyList<ServerItem> Slice(int offset, int limit) =>
        offset >= ItemCount || offset < 0 ? [] : [.. Enumerable.Range(offset + 1, Math.Min(limit, ItemCount - offset)).Select(CreateItem)];

    private void MapEndpoints()
    {
        _app.Use(async (context, next) =>
        {
            _requests.Enqueue(new ServerRequest(
                context.Request.Path + context.Request.QueryString, TimeProvider.System.GetTimestamp(), context.Connection.Id));
            var current = Interlocked.Increment(ref _inFlight);
            var peak = Volatile.Read(ref _peakInFlight);
            while (current > peak && Interlocked.CompareExchange(ref _peakInFlight, current, peak) != peak)
            {
                peak = Volatile.Read(ref _peakInFlight);
            }

            try
            {
                var delay = Query(context, "delayMs", 0);
                if (delay > 0)
                {
                    await Task.Delay(delay, context.RequestAborted);
                }

                if (string.Equals(context.Request.Query["fail"], "true", StringComparison.OrdinalIgnoreCase)
                    || (FailEverywhere && context.Request.Path.StartsWithSegments("/items", StringComparison.Ordinal) && ShouldFail()))
                {
                    context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                    return;
                }

                await next(context);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                // The client went away: nothing to answer.
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        });

        _app.MapGet("/items/{id:int}", (HttpContext context, int id) =>
            id >= 1 && id <= ItemCount ? WriteJsonAsync(context, CreateItem(id)) : Status(context, 404));

        _app.MapGet("/items", (HttpContext context) =>
        {
            var page = Query(context, "page", 1);
            var size = Query(context, "pageSize", 10);
            return WriteJsonAsync(context, Slice((page - 1) * size, size));
        });

        _app.MapGet("/items/offset", (HttpContext context) =>
            WriteJsonAsync(context, Slice(Query(context, "offset", 0), Query(context, "limit", 10))));

        _app.MapGet("/items/cursor", (HttpContext context) =>
        {
            var cursor = context.Request.Query["cursor"].ToString();
            var offset = cursor.Length == 0 ? 0 : DecodeCursor(cursor);
            var items = Slice(offset, Query(context, "limit", 10));
            var next = offset + items.Count < ItemCount ? EncodeCursor(offset + items.Count) : null;
            return WriteJsonAsync(context, new CursorPage(items, next));
        });

        _app.MapGet("/items/link", (HttpContext context) =>
        {
            var page = Query(context, "page", 1);
            var size = Query(context, "per_page", 10);
            var last = Math.Max(1, (ItemCount + size - 1) / size);
            var links = new List<string>();
            if (page < last)
            {
                links.Add($"<{Url($"items/link?page={page + 1}&per_page={size}")}>; rel=\"next\"");
            }

            links.Add($"<{Url($"items/link?page={last}&per_page={size}")}>; rel=\"last\"");
            context.Response.Headers.Link = string.Join(", ", links);
            return WriteJsonAsync(context, Slice((page - 1) * size, size));
        });

        _app.MapGet("/flaky", (HttpContext context) =>
            ShouldFail() ? Status(context, 500) : WriteJsonAsync(context, CreateItem(1)));

        _app.MapGet("/ratelimited", (HttpContext context) =>
        {
            var key = context.Request.Query["key"].ToString();
            var hits = _hits.AddOrUpdate(key, 1, (_, n) => n + 1);
            if (hits <= Query(context, "times", 1))
            {
                context.Response.Headers.RetryAfter = Query(context, "retryAfter", 1).ToString(CultureInfo.InvariantCulture);
                return Status(context, 429);
            }

            return WriteJsonAsync(context, CreateItem(1));
        });

        _app.MapGet("/status/{code:int}", (HttpContext context, int code) => Status(context, code));

        _app.MapGet("/large", async (HttpContext context) =>
        {
            var remaining = Query(context, "bytes", 1024 * 1024);
            var chunk = new byte[Math.Min(remaining, 16 * 1024)];
            Array.Fill(chunk, (byte)'x');
            context.Response.ContentType = "application/octet-stream";
            while (remaining > 0)
            {
                var count = Math.Min(remaining, chunk.Length);
                await context.Response.Body.WriteAsync(chunk.AsMemory(0, count), context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                remaining -= count;
            }
        });

        _app.MapGet("/largejson", async (HttpContext context) =>
        {
            // A valid JSON document whose one string holds N bytes, chunked, without Content-Length: only a size
            // limit enforced while streaming can stop it.
            var remaining = Query(context, "bytes", 1024 * 1024);
            var chunk = new byte[16 * 1024];
            Array.Fill(chunk, (byte)'x');
            context.Response.ContentType = "application/json";
            await context.Response.Body.WriteAsync("{\"name\":\""u8.ToArray(), context.RequestAborted);
            while (remaining > 0)
            {
                var count = Math.Min(remaining, chunk.Length);
                await context.Response.Body.WriteAsync(chunk.AsMemory(0, count), context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                remaining -= count;
            }

            await context.Response.Body.WriteAsync("\"}"u8.ToArray(), context.RequestAborted);
        });

        _app.MapGet("/reset", (HttpContext context) =>
        {
            context.Abort();
            return Task.CompletedTask;
        });

        _app.MapGet("/hold/{key}", async (HttpContext context, string key) =>
        {
            await _holds.GetOrAdd(key, _ => NewHold()).Task.WaitAsync(context.RequestAborted);
            context.Response.StatusCode = 200;
        });
    }

    private void MapFaultEndpoints()
    {
        byte[] Body() => JsonSerializer.SerializeToUtf8Bytes(Slice(0, 20), s_json);

        async Task WriteHalfAsync(HttpContext context, byte[] body)
        {
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body.AsMemory(0, body.Length / 2), context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
        }

        _app.MapGet("/fault/reset-mid-body", async (HttpContext context) =>
        {
            await WriteHalfAsync(context, Body());
            context.Abort();
        });

        _app.MapGet("/fault/slowloris", (HttpContext context) =>
            Task.Delay(Timeout.InfiniteTimeSpan, context.RequestAborted));

        _app.MapGet("/fault/stall-mid-body", async (HttpContext context) =>
        {
            await WriteHalfAsync(context, Body());
            await Task.Delay(Timeout.InfiniteTimeSpan, context.RequestAborted);
        });

        _app.MapGet("/fault/truncated-json", async (HttpContext context) =>
        {
            var body = Body();
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = body.Length / 2;
            await context.Response.Body.WriteAsync(body.AsMemory(0, body.Length / 2), context.RequestAborted);
        });

        _app.MapGet("/fault/redirect-loop", (HttpContext context) =>
        {
            context.Response.Headers.Location = Url("fault/redirect-loop").ToString();
            return Status(context, StatusCodes.Status302Found);
        });

        _app.MapGet("/fault/huge-header", (HttpContext context) =>
        {
            context.Response.Headers["X-Huge"] = new string('h', Query(context, "bytes", 256 * 1024));
            return WriteJsonAsync(context, Slice(0, 20));
        });
    }

    private static Task Status(HttpContext context, int code)
    {
        context.Response.StatusCode = code;
        return Task.CompletedTask;
    }

    private static string EncodeCursor(int offset) =>
        Convert.ToBase64String(BitConverter.GetBytes(offset ^ 0x5A5A5A5A));

    private static int DecodeCursor(string cursor) =>
        BitConverter.ToInt32(Convert.FromBase64String(cursor)) ^ 0x5A5A5A5A;
}
