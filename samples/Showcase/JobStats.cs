using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using AsyncPatterns.Http;
using AsyncPatterns.RateLimiting;

namespace AsyncPatterns.Samples.Showcase;

/// <summary>
/// What the job has done so far. Written by many tasks at once and read by the progress reporter, so every member
/// is thread-safe.
/// </summary>
internal sealed class JobStats
{
    private readonly ConcurrentDictionary<int, byte> _savedIds = new();
    private readonly ConcurrentDictionary<string, int> _failuresByKind = new();
    private readonly ConcurrentDictionary<string, int> _retriesByKind = new();
    private int _total;
    private int _pages;
    private int _listed;
    private int _failed;
    private int _retries;
    private int _requests;

    /// <summary>Items the job will process, once the first page told (0 until then).</summary>
    public int Total => Volatile.Read(ref _total);

    public int Pages => Volatile.Read(ref _pages);

    public int Listed => Volatile.Read(ref _listed);

    public int Saved => _savedIds.Count;

    public int Failed => Volatile.Read(ref _failed);

    public int Done => Saved + Failed;

    public int Retries => Volatile.Read(ref _retries);

    /// <summary>HTTP requests sent, pages and retries included.</summary>
    public int Requests => Volatile.Read(ref _requests);

    public IReadOnlyCollection<int> SavedIds => [.. _savedIds.Keys];

    public IReadOnlyDictionary<string, int> FailuresByKind => new SortedDictionary<string, int>(_failuresByKind, StringComparer.Ordinal);

    public IReadOnlyDictionary<string, int> RetriesByKind => new SortedDictionary<string, int>(_retriesByKind, StringComparer.Ordinal);

    public void SetTotal(int total) => Volatile.Write(ref _total, total);

    public void PageFetched() => Interlocked.Increment(ref _pages);

    public void ItemListed() => Interlocked.Increment(ref _listed);

    public void RequestSent() => Interlocked.Increment(ref _requests);

    /// <summary>Records a saved item; false if it was already recorded (it never should be).</summary>
    public bool ItemSaved(int id) => _savedIds.TryAdd(id, 0);

    public void ItemFailed(string kind)
    {
        Interlocked.Increment(ref _failed);
        _failuresByKind.AddOrUpdate(kind, 1, static (_, n) => n + 1);
    }

    public void Retrying(string kind)
    {
        Interlocked.Increment(ref _retries);
        _retriesByKind.AddOrUpdate(kind, 1, static (_, n) => n + 1);
    }

    /// <summary>A short name for why a request failed, used as the key of the "by kind" counts.</summary>
    public static string KindOf(HttpStatusCode status) => $"HTTP {(int)status} ({status})";

    /// <inheritdoc cref="KindOf(HttpStatusCode)"/>
    public static string KindOf<T>(FetchResult<T> result) => result.Error?.Kind switch
    {
        FetchErrorKind.HttpStatus when result.StatusCode is { } status => KindOf(status),
        FetchErrorKind.Timeout => "timeout",
        FetchErrorKind.Network => "connection error",
        FetchErrorKind.InvalidContent => "invalid JSON",
        FetchErrorKind.TooLarge => "response too large",
        FetchErrorKind.RateLimited => "rate limiter queue full",
        var kind => kind?.ToString() ?? "no value",
    };

    /// <inheritdoc cref="KindOf(HttpStatusCode)"/>
    public static string KindOf(Exception exception) => exception switch
    {
        TimeoutException => "timeout",
        RateLimitRejectedException => "rate limiter queue full",
        HttpRequestException { StatusCode: { } status } => KindOf(status),
        HttpRequestException => "connection error",
        JsonException => "invalid JSON",
        _ => exception.GetType().Name,
    };
}
