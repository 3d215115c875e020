using System.Net;
using AsyncPatterns.Internal;

namespace AsyncPatterns.Http;

/// <summary>
/// Thrown by a fetch with <see cref="FetchOptions.FailFast"/> set: the first request that failed, whose failure cancelled
/// the others. <see cref="Exception.InnerException"/> is <see cref="FetchError.Exception"/>.
/// </summary>
public sealed class FetchFailedException : AsyncPatternsException
{
    internal FetchFailedException(int index, Uri? uri, HttpStatusCode? statusCode, FetchError error)
        : base($"Fetching #{index} ({UriRedaction.Redact(uri)}) failed: {error.Message}", error.Exception)
    {
        Index = index;
        Uri = uri;
        StatusCode = statusCode;
        Error = error;
    }

    /// <summary>The position of the failed request in the input, from 0.</summary>
    public int Index { get; }

    /// <summary>The URI of the failed request.</summary>
    public Uri? Uri { get; }

    /// <summary>The status code of the last response of the failed request, if one arrived.</summary>
    public HttpStatusCode? StatusCode { get; }

    /// <summary>Why the request failed.</summary>
    public FetchError Error { get; }
}
