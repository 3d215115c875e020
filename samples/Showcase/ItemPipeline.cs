using System.Globalization;
using System.Net.Http.Json;
using AsyncPatterns.Pagination;
using AsyncPatterns.Retries;
using AsyncPatterns.Samples.DemoApi;
using AsyncPatterns.TaskGroups;
using AsyncPatterns.Timeouts;
using Polly;

namespace AsyncPatterns.Samples.Showcase;

/// <summary>
/// The job itself: page through <c>/items</c>, fetch every item's details and save them, with every request retried
/// (AsyncPatterns.Retries) and bounded by a timeout per attempt (AsyncPatterns.Timeouts), all inside one task group
/// (AsyncPatterns.TaskGroups). The rate limit sits in the <see cref="HttpClient"/>'s handler (see Program.cs).
/// </summary>
internal sealed class ItemPipeline(HttpClient http, ItemStore store, JobStats stats, ShowcaseOptions options)
{
    private const int PageSize = 50;

    // One pipeline for every request: retries 408, 429, 5xx, connection errors and timeouts, never other 4xx and
    // never our own cancellation; waits Retry-After when the server sends one.
    private readonly ResiliencePipeline<HttpResponseMessage> _retry = HttpRetry.CreatePipeline(new RetryOptions
    {
        MaxRetries = options.Retries,
        BaseDelay = TimeSpan.FromMilliseconds(50),
        MaxDelay = TimeSpan.FromSeconds(2),
        OnRetry = attempt => stats.Retrying(attempt.Result is HttpResponseMessage response
            ? JobStats.KindOf(response.StatusCode)
            : JobStats.KindOf(attempt.Exception!)),
    });

    /// <summary>
    /// Runs the job. Returns when every item is saved or failed; throws <see cref="OperationCanceledException"/> on
    /// cancellation (after every started item has finished) and <see cref="TaskGroupException"/> on a real fault.
    /// </summary>
    public Task RunAsync(CancellationToken cancellationToken)
    {
        // Pagination: an IAsyncEnumerable over GET /items?page=P&pageSize=S that asks for the next page while the
        // current one is being processed (prefetch), and stops after --items items.
        var items = Paginator.FromPageNumber(FetchPageAsync, PageSize).WithPrefetch(1).WithMaxItems(options.Items);

        // TaskGroups: at most --concurrency items at once, pulled from the paginator as workers free up. Failures we
        // expect (a 500 after the last retry) are results; anything else is a fault that cancels the siblings.
        return TaskGroup.ForEachAsync(items, options.Concurrency, ProcessItemAsync, cancellationToken);
    }

    private async Task<IReadOnlyList<ItemSummary>> FetchPageAsync(int page, int pageSize, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(string.Create(CultureInfo.InvariantCulture, $"items?page={page}&pageSize={pageSize}"), cancellationToken);
        response.EnsureSuccessStatusCode(); // a list that keeps failing is a fault: the job cannot go on without it
        if (page == 1 && response.Headers.TryGetValues("X-Total-Count", out var values)
            && int.TryParse(values.First(), NumberStyles.None, CultureInfo.InvariantCulture, out var total))
        {
            stats.SetTotal(Math.Min(total, options.Items));
        }

        var items = await response.Content.ReadFromJsonAsync(DemoApiJsonContext.Default.IReadOnlyListItemSummary, cancellationToken) ?? [];
        stats.PageListed(items.Count);
        return items;
    }

    private async Task<bool> ProcessItemAsync(ItemSummary item, CancellationToken cancellationToken)
    {
        ItemDetails? details;
        try
        {
            using var response = await SendAsync(string.Create(CultureInfo.InvariantCulture, $"items/{item.Id}"), cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                stats.ItemFailed(JobStats.KindOf(response.StatusCode)); // still failing after the last retry
                return false;
            }

            details = await response.Content.ReadFromJsonAsync(DemoApiJsonContext.Default.ItemDetails, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && (HttpRetry.IsTransient(e) || e is System.Text.Json.JsonException))
        {
            stats.ItemFailed(JobStats.KindOf(e)); // timed out or unreachable on every attempt
            return false;
        }

        if (details is null)
        {
            stats.ItemFailed("empty body");
            return false;
        }

        await store.SaveAsync(details, cancellationToken);
        if (!stats.ItemSaved(details.Id))
        {
            throw new InvalidOperationException($"Item {details.Id} was saved twice.");
        }

        return true;
    }

    // One request, retried; each attempt is bounded by --timeout (the retry pipeline treats the timeout as transient).
    private async Task<HttpResponseMessage> SendAsync(string relativeUri, CancellationToken cancellationToken) =>
        await _retry.ExecuteAsync(
            async token => await OperationTimeout.RunAsync(attempt => http.GetAsync(relativeUri, attempt), options.Timeout, cancellationToken: token),
            cancellationToken);
}
