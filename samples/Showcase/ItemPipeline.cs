using System.Globalization;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using AsyncPatterns.Http;
using AsyncPatterns.Pagination;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.Retries;
using AsyncPatterns.Samples.DemoApi;
using AsyncPatterns.TaskGroups;

namespace AsyncPatterns.Samples.Showcase;

/// <summary>
/// The job itself: page through <c>/items</c> (Pagination), fetch every item's details concurrently (Http) under the
/// rate limit (RateLimiting) with retries (Retries) and a timeout per attempt, and save each one in SQLite
/// (Connections, in <see cref="ItemStore"/>), all inside one task group (TaskGroups).
/// </summary>
internal sealed class ItemPipeline
{
    private const int PageSize = 50;

    private readonly HttpClient _details;
    private readonly HttpClient _lists;
    private readonly ItemStore _store;
    private readonly JobStats _stats;
    private readonly ShowcaseOptions _options;
    private readonly ConcurrentHttpFetcher _fetcher;

    /// <summary>Creates the job.</summary>
    /// <param name="details">A plain client for the item details: the fetcher adds retry, permit and timeout per attempt itself.</param>
    /// <param name="lists">The client for the list pages, configured with <see cref="AttemptPipelineHttpClientBuilderExtensions.AddAttemptPipeline(Microsoft.Extensions.DependencyInjection.IHttpClientBuilder, Action{AttemptPipelineOptions})"/>.</param>
    public ItemPipeline(HttpClient details, HttpClient lists, RequestRateLimiter limiter, ItemStore store, JobStats stats, ShowcaseOptions options)
    {
        (_details, _lists, _store, _stats, _options) = (details, lists, store, stats, options);

        // Http: at most --concurrency requests in flight; every attempt (retries included) first takes a permit from
        // the rate limiter, then gets its own --timeout, and runs inside the retry pipeline. One result per item.
        // The details client has no pipeline of its own, so nothing is retried twice.
        _fetcher = new ConcurrentHttpFetcher(details, new FetchOptions
        {
            MaxConcurrency = options.Concurrency,
            PerRequestTimeout = options.Timeout,
            RateLimiter = limiter,
            Retry = RetryOptions(options, stats),
        });
    }

    /// <summary>
    /// Retries: the rules every request follows, list pages and details alike. They retry 408, 429, 5xx, network errors
    /// and timeouts (never another 4xx, never our own cancellation), with exponential backoff and jitter, and wait
    /// Retry-After when sent.
    /// </summary>
    public static RetryOptions RetryOptions(ShowcaseOptions options, JobStats stats) => new()
    {
        MaxRetries = options.Retries,
        BaseDelay = TimeSpan.FromMilliseconds(50),
        MaxDelay = TimeSpan.FromSeconds(2),
        OnRetry = attempt => stats.Retrying(attempt.Result is HttpResponseMessage response
            ? JobStats.KindOf(response.StatusCode)
            : JobStats.KindOf(attempt.Exception!)),
    };

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
            yield return new HttpRequestMessage(HttpMethod.Get, new Uri(_details.BaseAddress!, string.Create(CultureInfo.InvariantCulture, $"items/{item.Id}")));
        }
    }

    private async Task<IReadOnlyList<ItemSummary>> FetchPageAsync(int page, int pageSize, CancellationToken cancellationToken)
    {
        var uri = string.Create(CultureInfo.InvariantCulture, $"items?page={page}&pageSize={pageSize}");

        // The list pages are plain GetAsync calls: the client's attempt pipeline retries them, takes a rate-limiter
        // permit per attempt and gives each attempt its own timeout.
        using var response = await _lists.GetAsync(uri, cancellationToken);
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
