using System.Diagnostics.CodeAnalysis;
using System.Net;
using AsyncPatterns.Internal;

namespace AsyncPatterns.Http;

/// <summary>The outcome of fetching one request: its value, or the error that stopped it.</summary>
/// <typeparam name="T">The type of the value read from the body.</typeparam>
public sealed class FetchResult<T>
{
    internal FetchResult(int index, Uri? uri, HttpStatusCode? statusCode, T? value, FetchError? error, int attempts, TimeSpan elapsed)
    {
        Index = index;
        Uri = uri;
        StatusCode = statusCode;
        Value = value;
        Error = error;
        Attempts = attempts;
        Elapsed = elapsed;
    }

    /// <summary>The position of the request in the input, from 0.</summary>
    public int Index { get; }

    /// <summary>The request URI.</summary>
    public Uri? Uri { get; }

    /// <summary>The status code of the last response received, or <see langword="null"/> when none arrived.</summary>
    public HttpStatusCode? StatusCode { get; }

    /// <summary>The value read from the body when <see cref="IsSuccess"/>; otherwise the default of <typeparamref name="T"/>.</summary>
    public T? Value { get; }

    /// <summary>Why the fetch failed, or <see langword="null"/> when <see cref="IsSuccess"/>.</summary>
    public FetchError? Error { get; }

    /// <summary>How many times the request was attempted (more than 1 only with a retrying pipeline).</summary>
    public int Attempts { get; }

    /// <summary>The time from the moment the request got its concurrency slot until its result was ready, on the fetcher's <see cref="TimeProvider"/>.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>Whether the fetch succeeded: a 2xx response whose body was read within the limits.</summary>
    [MemberNotNullWhen(false, nameof(Error))]
    public bool IsSuccess => Error is null;

    /// <inheritdoc />
    public override string ToString() =>
        IsSuccess ? $"#{Index} {UriRedaction.Redact(Uri)}: {(int?)StatusCode}" : $"#{Index} {UriRedaction.Redact(Uri)}: {Error}";
}
