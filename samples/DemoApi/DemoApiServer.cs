using System.Buffers.Text;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AsyncPatterns.Samples.DemoApi;

/// <summary>
/// A small, realistic JSON API on 127.0.0.1 (Kestrel), with configurable latency, failures and 429s
/// (see <see cref="DemoApiOptions"/>). Start one with <see cref="StartAsync"/>, talk to it at <see cref="BaseAddress"/>.
/// </summary>
/// <remarks>
/// <para>Endpoints (lists accept at most 100 items per page; a bad query parameter is a 400):</para>
/// <list type="bullet">
/// <item><c>GET /users?page=P&amp;pageSize=S</c> and <c>GET /users/{id}</c>: users.</item>
/// <item><c>GET /items?page=P&amp;pageSize=S</c>: page P (from 1) of item summaries as a JSON array, empty past the end; header <c>X-Total-Count</c>.</item>
/// <item><c>GET /items/offset?offset=O&amp;limit=L</c>: a JSON array from offset O; header <c>X-Total-Count</c>.</item>
/// <item><c>GET /items/cursor?cursor=C&amp;limit=L</c>: a <see cref="CursorPage"/>; pass its <c>nextCursor</c> back until it is null.</item>
/// <item><c>GET /items/link?page=P&amp;per_page=S</c>: a JSON array and a GitHub-style <c>Link</c> header (<c>first</c>, <c>prev</c>, <c>next</c>, <c>last</c>).</item>
/// <item><c>GET /items/{id}</c>: the <see cref="ItemDetails"/> of one item; 404 outside the data set.</item>
/// <item><c>GET /health</c> and <c>GET /stats</c> (<see cref="DemoApiStats"/>): monitoring, never counted, delayed or failed.</item>
/// </list>
/// <para>Every member is safe to call concurrently.</para>
/// </remarks>
public sealed class DemoApiServer : IAsyncDisposable
{
    private const int DefaultPageSize = 20;
    private const int MaxPageSize = 100;

    private readonly WebApplication _app;
    private readonly DemoApiOptions _options;
    private readonly Lock _randomLock = new();
    private readonly Random _random;
    private int _requests;
    private int _inFlight;
    private int _peakInFlight;
    private int _failures;
    private int _tooManyRequests;
    private int _rejected;
    private int _disposed;

    private DemoApiServer(WebApplication app, DemoApiOptions options)
    {
        _app = app;
        _options = options;
        _random = new Random(options.Seed);
    }

    /// <summary>The base address, <c>http://127.0.0.1:{port}/</c>, with the port actually bound.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The number of items served.</summary>
    public int ItemCount => _options.ItemCount;

    /// <summary>Requests received (monitoring endpoints excluded).</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Requests being served now.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>The most requests ever served at once, as the server saw them arrive.</summary>
    public int PeakInFlight => Volatile.Read(ref _peakInFlight);

    /// <summary>A snapshot of every counter.</summary>
    public DemoApiStats Stats => new(
        Requests, InFlight, PeakInFlight, Volatile.Read(ref _failures), Volatile.Read(ref _tooManyRequests), Volatile.Read(ref _rejected));

    /// <summary>Starts a server and returns once it accepts connections.</summary>
    /// <param name="options">The behaviour; validated first, then copied, so later changes have no effect.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static Task<DemoApiServer> StartAsync(DemoApiOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return StartCoreAsync(Copy(options), cancellationToken);
    }

    /// <summary>Makes an absolute URI on this server from a relative path and query, e.g. <c>Url("items/7")</c>.</summary>
    public Uri Url(string relative) => new(BaseAddress, relative);

    /// <summary>Sets every counter back to zero (not the requests in flight now); the failure draws go on.</summary>
    public void ResetCounters()
    {
        Volatile.Write(ref _requests, 0);
        Volatile.Write(ref _peakInFlight, InFlight);
        Volatile.Write(ref _failures, 0);
        Volatile.Write(ref _tooManyRequests, 0);
        Volatile.Write(ref _rejected, 0);
    }

    /// <summary>Stops the server, abandoning requests still in flight. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }

    private static async Task<DemoApiServer> StartCoreAsync(DemoApiOptions options, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, options.Port));

        var app = builder.Build();
        var server = new DemoApiServer(app, options);
        server.MapEndpoints();
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        server.BaseAddress = new Uri(address.EndsWith('/') ? address : address + "/");
        return server;
    }

    private static DemoApiOptions Copy(DemoApiOptions o) => new()
    {
        Port = o.Port,
        ItemCount = o.ItemCount,
        UserCount = o.UserCount,
        Latency = o.Latency,
        FailureRate = o.FailureRate,
        TooManyRequestsRate = o.TooManyRequestsRate,
        RetryAfterSeconds = o.RetryAfterSeconds,
        FaultyLists = o.FaultyLists,
        MaxConcurrency = o.MaxConcurrency,
        Seed = o.Seed,
        TimeProvider = o.TimeProvider,
    };

    private void MapEndpoints()
    {
        _app.Use(ServeAsync);

        MapData("/users", isDetails: false, context => WritePageAsync(context, _options.UserCount, DemoData.CreateUser, DemoApiJsonContext.Default.IReadOnlyListUser));
        MapData("/users/{id:int}", isDetails: true, context =>
            TryGetId(context, _options.UserCount, out var id)
                ? WriteJsonAsync(context, DemoData.CreateUser(id), DemoApiJsonContext.Default.User)
                : WriteErrorAsync(context, StatusCodes.Status404NotFound, "No such user."));

        MapData("/items", isDetails: false, context => WritePageAsync(context, _options.ItemCount, DemoData.CreateItemSummary, DemoApiJsonContext.Default.IReadOnlyListItemSummary));
        MapData("/items/offset", isDetails: false, ServeOffsetAsync);
        MapData("/items/cursor", isDetails: false, ServeCursorAsync);
        MapData("/items/link", isDetails: false, ServeLinkAsync);
        MapData("/items/{id:int}", isDetails: true, context =>
            TryGetId(context, _options.ItemCount, out var id)
                ? WriteJsonAsync(context, DemoData.CreateItemDetails(id, _options.UserCount), DemoApiJsonContext.Default.ItemDetails)
                : WriteErrorAsync(context, StatusCodes.Status404NotFound, "No such item."));

        _app.MapGet("/health", context => context.Response.WriteAsync("ok", context.RequestAborted));
        _app.MapGet("/stats", context => WriteJsonAsync(context, Stats, DemoApiJsonContext.Default.DemoApiStats));
    }

    private void MapData(string pattern, bool isDetails, RequestDelegate handler) =>
        _app.MapGet(pattern, handler).WithMetadata(new DataEndpoint(isDetails));

    // Runs before every endpoint: counts, caps concurrency, draws the failure or 429, applies the latency.
    private async Task ServeAsync(HttpContext context, RequestDelegate next)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<DataEndpoint>() is not { } data)
        {
            await next(context);
            return;
        }

        Interlocked.Increment(ref _requests);
        var current = Interlocked.Increment(ref _inFlight);
        var peak = Volatile.Read(ref _peakInFlight);
        while (current > peak && Interlocked.CompareExchange(ref _peakInFlight, current, peak) != peak)
        {
            peak = Volatile.Read(ref _peakInFlight);
        }

        try
        {
            if (_options.MaxConcurrency is { } capacity && current > capacity)
            {
                Interlocked.Increment(ref _rejected);
                await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, "Too many requests at once.");
                return;
            }

            var outcome = data.IsDetails || _options.FaultyLists ? DrawOutcome() : StatusCodes.Status200OK;
            if (outcome == StatusCodes.Status429TooManyRequests)
            {
                Interlocked.Increment(ref _tooManyRequests);
                context.Response.Headers.RetryAfter = _options.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                await WriteErrorAsync(context, outcome, "Rate limit exceeded; see Retry-After.");
                return;
            }

            if (_options.Latency > TimeSpan.Zero)
            {
                await Task.Delay(_options.Latency, _options.TimeProvider, context.RequestAborted);
            }

            if (outcome == StatusCodes.Status500InternalServerError)
            {
                Interlocked.Increment(ref _failures);
                await WriteErrorAsync(context, outcome, "Simulated failure.");
                return;
            }

            await next(context);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away: there is no one to answer.
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    // One draw per eligible request, in arrival order: [0, 429 rate) is a 429, the next FailureRate is a 500.
    private int DrawOutcome()
    {
        double draw;
        lock (_randomLock)
        {
            draw = _random.NextDouble();
        }

        return draw < _options.TooManyRequestsRate ? StatusCodes.Status429TooManyRequests
            : draw < _options.TooManyRequestsRate + _options.FailureRate ? StatusCodes.Status500InternalServerError
            : StatusCodes.Status200OK;
    }

    private Task ServeOffsetAsync(HttpContext context)
    {
        if (!TryQuery(context, "offset", 0, 0, int.MaxValue, out var offset) || !TryQuery(context, "limit", DefaultPageSize, 1, MaxPageSize, out var limit))
        {
            return BadQueryAsync(context);
        }

        context.Response.Headers["X-Total-Count"] = _options.ItemCount.ToString(CultureInfo.InvariantCulture);
        return WriteJsonAsync(context, Slice(offset, limit, _options.ItemCount, DemoData.CreateItemSummary), DemoApiJsonContext.Default.IReadOnlyListItemSummary);
    }

    private Task ServeCursorAsync(HttpContext context)
    {
        var cursor = context.Request.Query["cursor"].ToString();
        var offset = 0;
        if ((cursor.Length > 0 && !TryDecodeCursor(cursor, out offset)) || !TryQuery(context, "limit", DefaultPageSize, 1, MaxPageSize, out var limit))
        {
            return BadQueryAsync(context);
        }

        var items = Slice(offset, limit, _options.ItemCount, DemoData.CreateItemSummary);
        var next = offset + items.Count < _options.ItemCount ? EncodeCursor(offset + items.Count) : null;
        return WriteJsonAsync(context, new CursorPage(items, next), DemoApiJsonContext.Default.CursorPage);
    }

    private Task ServeLinkAsync(HttpContext context)
    {
        if (!TryQuery(context, "page", 1, 1, int.MaxValue, out var page) || !TryQuery(context, "per_page", DefaultPageSize, 1, MaxPageSize, out var size))
        {
            return BadQueryAsync(context);
        }

        var last = Math.Max(1, (_options.ItemCount + size - 1) / size);
        string Link(int p, string rel) => string.Create(CultureInfo.InvariantCulture, $"<{Url($"items/link?page={p}&per_page={size}")}>; rel=\"{rel}\"");
        List<string> links = [Link(1, "first")];
        if (page > 1)
        {
            links.Add(Link(Math.Min(page - 1, last), "prev"));
        }

        if (page < last)
        {
            links.Add(Link(page + 1, "next"));
        }

        links.Add(Link(last, "last"));
        context.Response.Headers.Link = string.Join(", ", links);
        return WriteJsonAsync(context, Slice((long)(page - 1) * size, size, _options.ItemCount, DemoData.CreateItemSummary), DemoApiJsonContext.Default.IReadOnlyListItemSummary);
    }

    private static Task WritePageAsync<T>(HttpContext context, int count, Func<int, T> create, JsonTypeInfo<IReadOnlyList<T>> typeInfo)
    {
        if (!TryQuery(context, "page", 1, 1, int.MaxValue, out var page) || !TryQuery(context, "pageSize", DefaultPageSize, 1, MaxPageSize, out var size))
        {
            return BadQueryAsync(context);
        }

        context.Response.Headers["X-Total-Count"] = count.ToString(CultureInfo.InvariantCulture);
        return WriteJsonAsync(context, Slice((long)(page - 1) * size, size, count, create), typeInfo);
    }

    // The records with ids offset+1 .. offset+limit that exist.
    private static IReadOnlyList<T> Slice<T>(long offset, int limit, int count, Func<int, T> create) =>
        offset >= count ? [] : [.. Enumerable.Range((int)offset + 1, (int)Math.Min(limit, count - offset)).Select(create)];

    private static bool TryGetId(HttpContext context, int count, out int id) =>
        int.TryParse(context.Request.RouteValues["id"]?.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out id) && id >= 1 && id <= count;

    private static bool TryQuery(HttpContext context, string name, int fallback, int min, int max, out int value)
    {
        var text = context.Request.Query[name].ToString();
        if (text.Length == 0)
        {
            value = fallback;
            return true;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= min && value <= max;
    }

    private static string EncodeCursor(int offset) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"offset:{offset}")));

    private static bool TryDecodeCursor(string cursor, out int offset)
    {
        offset = 0;
        try
        {
            var text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor));
            return text.StartsWith("offset:", StringComparison.Ordinal)
                && int.TryParse(text.AsSpan("offset:".Length), NumberStyles.None, CultureInfo.InvariantCulture, out offset);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static Task BadQueryAsync(HttpContext context) =>
        WriteErrorAsync(context, StatusCodes.Status400BadRequest, $"Bad query string: {context.Request.QueryString}.");

    private static Task WriteErrorAsync(HttpContext context, int status, string error)
    {
        context.Response.StatusCode = status;
        return WriteJsonAsync(context, new ApiError(status, error), DemoApiJsonContext.Default.ApiError);
    }

    private static Task WriteJsonAsync<T>(HttpContext context, T value, JsonTypeInfo<T> typeInfo) =>
        context.Response.WriteAsJsonAsync(value, typeInfo, contentType: null, context.RequestAborted);

    // Endpoint metadata: marks the endpoints that are counted, delayed and may fail.
    private sealed record DataEndpoint(bool IsDetails);
}
