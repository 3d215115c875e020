using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using AsyncPatterns.Pagination;

namespace AsyncPatterns.Tests.Pagination;

/// <summary>A request the backend received.</summary>
internal sealed class BackendRequest(long offset, int limit, CancellationToken token)
{
    public long Offset { get; } = offset;

    public int Limit { get; } = limit;

    public CancellationToken Token { get; } = token;

    public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public volatile bool Finished;

    public volatile bool SawCancellation;
}

/// <summary>
/// The data source behind every paginator kind of the contract tests: items 1..ItemCount, read by offset and limit.
/// Records requests, can hold each request on a gate, delay it on a fake clock, or fail at an offset.
/// </summary>
internal sealed class PagedBackend(int itemCount, TimeProvider? time = null)
{
    private readonly Lock _lock = new();
    private readonly List<BackendRequest> _requests = [];

    public int ItemCount { get; } = itemCount;

    public TimeSpan Latency { get; set; }

    public long? FailAtOffset { get; set; }

    public bool HoldRequests { get; set; }

    public int RequestCount
    {
        get
        {
            lock (_lock)
            {
                return _requests.Count;
            }
        }
    }

    public IReadOnlyList<BackendRequest> Requests
    {
        get
        {
            lock (_lock)
            {
                return [.. _requests];
            }
        }
    }

    public void Release(int request) => Requests[request].Gate.TrySetResult();

    public async Task<IReadOnlyList<int>> GetAsync(long offset, int limit, CancellationToken cancellationToken)
    {
        var request = new BackendRequest(offset, limit, cancellationToken);
        lock (_lock)
        {
            _requests.Add(request);
        }

        try
        {
            if (HoldRequests)
            {
                await request.Gate.Task.WaitAsync(cancellationToken);
            }

            if (Latency > TimeSpan.Zero)
            {
                await PaginationTestExtensions.InlineDelay(time ?? TimeProvider.System, Latency, cancellationToken);
            }

            if (offset == FailAtOffset)
            {
                throw new InvalidOperationException($"backend failure at offset {offset}");
            }

            var count = (int)Math.Max(0, Math.Min(limit, ItemCount - offset));
            return Enumerable.Range((int)offset + 1, count).ToArray();
        }
        catch (OperationCanceledException)
        {
            request.SawCancellation = true;
            throw;
        }
        finally
        {
            request.Finished = true;
        }
    }
}

/// <summary>Serves the backend as a GitHub-style API: <c>/items?offset=O&amp;limit=L</c> with a Link header.</summary>
internal sealed class BackendHttpHandler(PagedBackend backend) : HttpMessageHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var query = System.Web.HttpUtility.ParseQueryString(request.RequestUri!.Query);
        var offset = long.Parse(query["offset"] ?? "0", System.Globalization.CultureInfo.InvariantCulture);
        var limit = int.Parse(query["limit"] ?? "3", System.Globalization.CultureInfo.InvariantCulture);
        IReadOnlyList<int> items;
        try
        {
            items = await backend.GetAsync(offset, limit, cancellationToken);
        }
        catch (InvalidOperationException)
        {
            return new HttpResponseMessage(HttpStatusCode.InternalServerError) { RequestMessage = request };
        }

        var response = new HttpResponseMessage(HttpStatusCode.OK)
        {
            RequestMessage = request,
            Content = new StringContent(JsonSerializer.Serialize(items, PaginationJsonContext.Default.IReadOnlyListInt32), Encoding.UTF8, "application/json"),
        };
        if (offset + items.Count < backend.ItemCount)
        {
            response.Headers.TryAddWithoutValidation("Link", $"</items?offset={offset + items.Count}&limit={limit}>; rel=\"next\", </items?offset=0&limit={limit}>; rel=\"first\"");
        }

        return response;
    }
}

[JsonSerializable(typeof(int))]
[JsonSerializable(typeof(IReadOnlyList<int>))]
internal sealed partial class PaginationJsonContext : JsonSerializerContext;

internal static class PaginationTestExtensions
{
    /// <summary>
    /// A delay whose continuation runs inline on the thread that advances the clock (Task.Delay with a TimeProvider
    /// completes through the thread pool), so a fake-clock step runs everything it releases before it returns.
    /// </summary>
    public static Task InlineDelay(TimeProvider time, TimeSpan delay, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource();
        var registration = cancellationToken.Register(() => done.TrySetCanceled(cancellationToken));
        ITimer? timer = null;
        timer = time.CreateTimer(
            _ =>
            {
                registration.Dispose();
                done.TrySetResult();
            },
            null,
            delay,
            Timeout.InfiniteTimeSpan);
        _ = done.Task.ContinueWith(_ => timer.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return done.Task;
    }

    public static async Task<List<T>> CollectAsync<T>(this IAsyncEnumerable<T> source, CancellationToken cancellationToken)
    {
        var list = new List<T>();
        await foreach (var item in source.WithCancellation(cancellationToken))
        {
            list.Add(item);
        }

        return list;
    }

    public static Paginator<int> CursorOver(PagedBackend backend, int pageSize) =>
        Paginator.FromCursor<int>(async (token, hint, ct) =>
        {
            var offset = token is null ? 0 : long.Parse(token.AsSpan(1), provider: System.Globalization.CultureInfo.InvariantCulture);
            var items = await backend.GetAsync(offset, hint ?? pageSize, ct);
            var next = offset + items.Count < backend.ItemCount ? "c" + (offset + items.Count).ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
            return new Page<int>(items, next);
        });
}
