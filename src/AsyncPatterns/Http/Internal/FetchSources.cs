using AsyncPatterns.Internal;

namespace AsyncPatterns.Http.Internal;

/// <summary>One request pulled from a source: its URI and, for a request source, the caller's message.</summary>
internal sealed class PendingRequest(Uri uri, HttpRequestMessage? message)
{
    public Uri Uri { get; } = uri;

    /// <summary>The caller's message (owned by the fetcher from now on), or null for a plain GET of <see cref="Uri"/>.</summary>
    public HttpRequestMessage? Message { get; } = message;
}

/// <summary>
/// A source of requests, pulled one at a time when a concurrency slot frees. The instance a fetch method returns is a
/// template: each enumeration of the fetch pulls from its own <see cref="Open"/>ed pass, as a LINQ query does.
/// </summary>
internal abstract class FetchSource : IAsyncDisposable
{
    /// <summary>A new pass over the same requests, for one enumeration.</summary>
    public abstract FetchSource Open();

    /// <summary>The next request, or null at the end. Throws <see cref="ArgumentException"/> for an invalid URI.</summary>
    public abstract ValueTask<PendingRequest?> NextAsync(CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();

    /// <summary>Throws unless <paramref name="uri"/> is an absolute http or https URI.</summary>
    public static void Validate(Uri? uri, int index, string paramName)
    {
        if (uri is null)
        {
            throw new ArgumentException($"The request at index {index} has no URI.", paramName);
        }

        if (!uri.IsAbsoluteUri || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException(
                $"The URI '{UriRedaction.Redact(uri.OriginalString)}' at index {index} is not an absolute http or https URI.", paramName);
        }
    }
}

/// <summary>Plain GETs of the URIs of an enumerable, enumerated lazily on the pump.</summary>
internal sealed class UriSource(IEnumerable<Uri> uris) : FetchSource
{
    private IEnumerator<Uri>? _enumerator;
    private int _index;

    public override FetchSource Open() => new UriSource(uris);

    public override ValueTask<PendingRequest?> NextAsync(CancellationToken cancellationToken)
    {
        _enumerator ??= uris.GetEnumerator();
        if (!_enumerator.MoveNext())
        {
            return ValueTask.FromResult<PendingRequest?>(null);
        }

        var uri = _enumerator.Current;
        Validate(uri, _index++, nameof(uris));
        return ValueTask.FromResult<PendingRequest?>(new PendingRequest(uri, null));
    }

    public override ValueTask DisposeAsync()
    {
        _enumerator?.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>The caller's request messages, pulled lazily from an async sequence.</summary>
internal sealed class RequestSource(IAsyncEnumerable<HttpRequestMessage> requests) : FetchSource
{
    private IAsyncEnumerator<HttpRequestMessage>? _enumerator;
    private int _index;

    public override FetchSource Open() => new RequestSource(requests);

    public override async ValueTask<PendingRequest?> NextAsync(CancellationToken cancellationToken)
    {
        _enumerator ??= requests.GetAsyncEnumerator(cancellationToken);
        if (!await _enumerator.MoveNextAsync().ConfigureAwait(false))
        {
            return null;
        }

        var message = _enumerator.Current;
        try
        {
            Validate(message?.RequestUri, _index++, nameof(requests));
        }
        catch (ArgumentException)
        {
            message?.Dispose();
            throw;
        }

        return new PendingRequest(message!.RequestUri!, message);
    }

    public override ValueTask DisposeAsync() => _enumerator?.DisposeAsync() ?? ValueTask.CompletedTask;
}
