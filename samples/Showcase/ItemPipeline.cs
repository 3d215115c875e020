using System.Globalization;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using AsyncPatterns.Http;
using AsyncPatterns.Pagination;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.Retries;
using AsyncPatterns.Samples.DemoApi;
using AsyncPatterns.TaskGroups;
using AsyncPatterns.Timeouts;
using Polly;

namespace AsyncPatterns.Samples.Showcase;

/// <summary>
/// The job itself: page through <c>/items</c> (Pagination), fetch every item's details concurrently (Http) under the
/// rate limit (RateLimiting) with retries (Retries) and a timeout per attempt (Timeouts), and save each one in SQLite
/// (Connections, in <see cref="ItemStore"/>), all inside one task group (TaskGroups).
/// </summary>
internal sealed class ItemPipeline
{
    private const int PageSize = 50;

    private readonly HttpClient _http;
    private readonly RequestRateLimiter _limiter;
    private readonly ItemStore _store;
    private readonly JobStats _stats;
    private readonly ShowcaseOptions _options;
    private readonly ResiliencePipeline<HttpResponseMessage> _retry;
    private readonly ConcurrentHttpFetcher _fetcher;

    public ItemPipeline(HttpClient http, RequestRateLimiter limiter, ItemStore store, JobStats stats, ShowcaseOptions options)
    {
        (_http, _limiter, _store, _stats, _options) = (http, limiter, store, stats, options);

        // Retries: one pipeline for every request. It retries 408, 429, 5xx, network errors and timeouts (never another
        // 4xx, never our own cancellation), with exponential backoff and jitter, and waits Retry-After when sent.
        _retry = HttpRetry.CreatePipeline(new RetryOptions
        {
            MaxRetries = options.Retries,
            BaseDelay = TimeSpan.FromMilliseconds(50),
            MaxDelay = TimeSpan.FromSeconds(2),
            OnRetry = attempt => stats.Retrying(attempt.Result is HttpResponseMessage response
                ? JobStats.KindOf(response.StatusCode)
                : JobStats.KindOf(attempt.Exception!)),
        });

        // Http: at most --concurrency requests in flight; every attempt (retries included) first takes a permit from
        // the rate limiter, then gets its own --timeout, and runs inside the retry pipeline. One result per item.
        _fetcher = new ConcurrentHttpFetcher(http, new FetchOptions
        {
            MaxConcurrency = options.Concurrency,
            PerRequestTimeout = options.Timeout,
            RateLimiter = limiter,
            ResiliencePipeline = _retry,
        });
    }

    /// <summary>
    /// Runs the job. Returns when every listed item is saved or failed; throws <see cref="OperationCanceledException"/>
    /// on cancellation (once every save in progress has finished) and <see cref="TaskGroupException"/> on a fault.
    /// </summary>
    public Task RunAsync(CancellationToken cancellationToken) =>
        // TaskGroups: the body streams the fetched items and starts one child per save, at most one per pooled
        // connection at once. RunAsync returns only when the body and every save have finished; the first fault
        // (say, a full disk) cancels the fetching and the other saves, and Ctrl+C cancels them all.
        TaskGroup.RunAsync(
            async group =>
            {
                await foreach (var result in _fetcher.FetchAsync(DetailRequestsAsync(group.Token), DemoApiJsonContext.Default.ItemDetails, group.Token))
                {
                    if (result is { IsSuccess: true, Value: { } item })
                    {
                        _ = group.Run(token => SaveAsync(item, token), $"save item {item.Id}"); // the group observes it
                    }
                    else
                    {
                        _stats.ItemFailed(JobStats.KindOf(result)); // an expected outcome, still failing after the retries
                    }
                }
            },
            new TaskGroupOptions { Name = "showcase", MaxConcurrency = ItemStore.MaxConnections },
            cancellationToken);

    // Pagination: every item of GET /items?page=P&pageSize=S, one page at a time, the next page requested while the
    // current one is being fetched (prefetch), up to --items items. The fetcher pulls from here as slots free up, so
    // listing never runs far ahead of fetching.
    private async IAsyncEnumerable<HttpRequestMessage> DetailRequestsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var items = Paginator.FromPageNumber(FetchPageAsync, PageSize).WithPrefetch(1).WithMaxItems(_options.Items);
        await foreach (var item in items.WithCancellation(cancellationToken))
        {
            _stats.ItemListed();
            yield return new HttpRequestMessage(HttpMethod.Get, new Uri(_http.BaseAddress!, string.Create(CultureInfo.InvariantCulture, $"items/{item.Id}")));
        }
    }

    private async Task<IReadOnlyList<ItemSummary>> FetchPageAsync(int page, int pageSize, CancellationToken cancellationToken)
    {
        var uri = string.Create(CultureInfo.InvariantCulture, $"items?page={page}&pageSize={pageSize}");

        // The list pages are plain HttpClient calls, composed by hand from the same parts as the fetcher's attempts:
        // the retry pipeline around each attempt, a rate-limiter permit, then a timeout (Timeouts) for the attempt.
        using var response = await _retry.ExecuteAsync(
            async token =>
            {
                using var lease = await _limiter.AcquireAsync(token);
                return lease.IsAcquired
                    ? await OperationTimeout.RunAsync(attempt => _http.GetAsync(uri, attempt), _options.Timeout, cancellationToken: token)
                    : throw new RateLimitRejectedException("The rate limiter's queue is full.");
            },
            cancellationToken);
        response.EnsureSuccessStatusCode(); // a list that still fails after the retries is a fault: the job cannot go on

        if (page == 1 && response.Headers.TryGetValues("X-Total-Count", out var values)
            && int.TryParse(values.First(), NumberStyles.None, CultureInfo.InvariantCulture, out var total))
        {
            _stats.SetTotal(Math.Min(total, _options.Items));
        }

        var items = await response.Content.ReadFromJsonAsync(DemoApiJsonContext.Default.IReadOnlyListItemSummary, cancellationToken) ?? [];
        _stats.PageFetched();
        return items;
    }

    private async Task SaveAsync(ItemDetails item, CancellationToken cancellationToken)
    {
        await _store.SaveAsync(item, cancellationToken);
        if (!_stats.ItemSaved(item.Id))
        {
            throw new InvalidOperationException($"Item {item.Id} was saved twice.");
        }
    }
}
