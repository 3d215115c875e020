using AsyncPatterns.Internal;

namespace AsyncPatterns.Http.Internal;

/// <summary>One request pulled from a source: its URI and, for a request source, the caller's message.</summary>
internal readonly struct PendingRequest(Uri uri, HttpRequestMessage? message)
{
    public Uri Uri { get; } = uri;

    /// <summary>The caller's message (owned by the fetcher from now on), or null for a plain GET of <see cref="Uri"/>.</summary>
    public HttpRequestMessage? Message { get; } = message;
}

/// <summary>
/// A source of requests, pulled one at a time when a concurrency slot frees. The instance a fetch method returns is a
/// template: each enumeration of the fetch pulls from its own <see cref="Open"/>ed pass, as a LINQ query does. A pass
/// is pulled by one caller at a time (the run serializes its workers' pulls).
/// </summary>
internal abstract class FetchSource : IAsyncDisposable
{
    /// <summary>Whether <see cref="Next"/> may be called instead of <see cref="NextAsync"/> (the source never waits).</summary>
    public virtual bool PullsSynchronously => false;

    /// <summary>The number of requests when known before pulling (a collection), else null.</summary>
    public virtual int? Count => null;

    /// <summary>A new pass over the same requests, for one enumeration.</summary>
    public abstract FetchSource Open();

    /// <summary>The next request, or null at the end. Throws <see cref="ArgumentException"/> for an invalid URI.</summary>
    public abstract ValueTask<PendingRequest?> NextAsync(CancellationToken cancellationToken);

    /// <summary>The next request of a source that <see cref="PullsSynchronously"/>, or null at the end.</summary>
    public virtual PendingRequest? Next() => throw new NotSupportedException();

    public abstract ValueTask DisposeAsync();

    /// <summary>
    /// The absolute http or https URI to send: <paramref name="uri"/> itself, or a relative one resolved against
    /// <paramref name="baseAddress"/> as <see cref="HttpClient"/> resolves it. Throws for anything else.
    /// </summary>
    public static Uri Resolve(Uri? uri, Uri? baseAddress, int index, string paramName)
    {
        if (uri is null)
        {
            throw new ArgumentException($"The request at index {index} has no URI.", paramName);
        }

        var resolved = uri;
        if (!uri.IsAbsoluteUri)
        {
            if (baseAddress is null)
            {
                throw new ArgumentException(
                    $"The URI '{UriRedaction.Redact(uri.OriginalString)}' at index {index} is relative and the HttpClient has no BaseAddress: give the client a BaseAddress or pass absolute http or https URIs.",
                    paramName);
            }

            resolved = new Uri(baseAddress, uri);
        }

        if (resolved.Scheme != Uri.UriSchemeHttp && resolved.Scheme != Uri.UriSchemeHttps)
        {
            throw new ArgumentException(
                ReferenceEquals(resolved, uri)
                    ? $"The URI '{UriRedaction.Redact(uri.OriginalString)}' at index {index} is not an absolute http or https URI."
                    : $"The URI '{UriRedaction.Redact(uri.OriginalString)}' at index {index} resolves against the HttpClient's BaseAddress to '{UriRedaction.Redact(resolved)}', which is not an http or https URI.",
                paramName);
        }

        return resolved;
    }
}

/// <summary>Plain GETs of the URIs of an enumerable, enumerated lazily by the run's workers.</summary>
internal sealed class UriSource(IEnumerable<Uri> uris, Uri? baseAddress) : FetchSource
{
    private IEnumerator<Uri>? _enumerator;
    private int _index;

    public override bool PullsSynchronously => true;

    public override int? Count => uris switch
    {
        ICollection<Uri> collection => collection.Count,
        IReadOnlyCollection<Uri> collection => collection.Count,
        _ => null,
    };

    public override FetchSource Open() => new UriSource(uris, baseAddress);

    public override ValueTask<PendingRequest?> NextAsync(CancellationToken cancellationToken) => ValueTask.FromResult(Next());

    public override PendingRequest? Next()
    {
        _enumerator ??= uris.GetEnumerator();
        if (!_enumerator.MoveNext())
        {
            return null;
        }

        return new PendingRequest(Resolve(_enumerator.Current, baseAddress, _index++, nameof(uris)), null);
    }

    public override ValueTask DisposeAsync()
    {
        _enumerator?.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>Plain GETs of the URIs of an async sequence, pulled lazily.</summary>
internal sealed class AsyncUriSource(IAsyncEnumerable<Uri> uris, Uri? baseAddress) : FetchSource
{
    private IAsyncEnumerator<Uri>? _enumerator;
    private int _index;

    public override FetchSource Open() => new AsyncUriSource(uris, baseAddress);

    public override async ValueTask<PendingRequest?> NextAsync(CancellationToken cancellationToken)
    {
        _enumerator ??= uris.GetAsyncEnumerator(cancellationToken);
        if (!await _enumerator.MoveNextAsync().ConfigureAwait(false))
        {
            return null;
        }

        return new PendingRequest(Resolve(_enumerator.Current, baseAddress, _index++, nameof(uris)), null);
    }

    public override ValueTask DisposeAsync() => _enumerator?.DisposeAsync() ?? ValueTask.CompletedTask;
}

/// <summary>The caller's request messages, pulled lazily from an async sequence.</summary>
internal sealed class RequestSource(IAsyncEnumerable<HttpRequestMessage> requests, Uri? baseAddress) : FetchSource
{
    private IAsyncEnumerator<HttpRequestMessage>? _enumerator;
    private int _index;

    public override FetchSource Open() => new RequestSource(requests, baseAddress);

    public override async ValueTask<PendingRequest?> NextAsync(CancellationToken cancellationToken)
    {
        _enumerator ??= requests.GetAsyncEnumerator(cancellationToken);
        if (!await _enumerator.MoveNextAsync().ConfigureAwait(false))
        {
            return null;
        }

        var message = _enumerator.Current;
        Uri uri;
        try
        {
            uri = Resolve(message?.RequestUri, baseAddress, _index++, nameof(requests));
        }
        catch (ArgumentException)
        {
            message?.Dispose();
            throw;
        }

        if (!ReferenceEquals(uri, message!.RequestUri))
        {
            // As HttpClient does: the message is sent to its URI resolved against the client's BaseAddress.
            message.RequestUri = uri;
        }

        return new PendingRequest(uri, message);
    }

    public override ValueTask DisposeAsync() => _enumerator?.DisposeAsync() ?? ValueTask.CompletedTask;
}
