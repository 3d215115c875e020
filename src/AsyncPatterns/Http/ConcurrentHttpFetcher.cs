using System.Text.Json.Serialization.Metadata;
using AsyncPatterns.Http.Internal;

namespace AsyncPatterns.Http;

/// <summary>
/// Fetches many HTTP requests with bounded concurrency and gives one result per request: its value, or an error
/// (timeout, HTTP status, network, invalid content, too large, rate limited) instead of an exception. The .NET form of
/// gathering many requests at once, without overwhelming the client or the server.
/// </summary>
/// <remarks>
/// <para>
/// At most <see cref="FetchOptions.MaxConcurrency"/> requests are in flight (and at most
/// <see cref="FetchOptions.MaxConcurrencyPerHost"/> per host). The source is pulled only when a slot frees, so a million
/// URIs cost memory for the requests in flight only. Responses are read with
/// <see cref="HttpCompletionOption.ResponseHeadersRead"/> and their bodies bounded by <see cref="FetchOptions.MaxResponseBytes"/>.
/// </para>
/// <para>
/// The caller's cancellation surfaces as <see cref="OperationCanceledException"/>, never as a result; it, an early
/// <c>break</c> out of a <c>FetchAsync</c> loop and a <see cref="FetchOptions.FailFast"/> failure all cancel and
/// dispose every request and response in flight, and the enumeration finishes only when every worker has.
/// </para>
/// <para>
/// URIs must be absolute <c>http</c> or <c>https</c> URIs, or relative ones, which are resolved against the client's
/// <see cref="HttpClient.BaseAddress"/> as <see cref="HttpClient"/> resolves them (without a base address a relative
/// URI is an <see cref="ArgumentException"/> that says so; one that resolves to another scheme is one too). A collection
/// (<see cref="ICollection{T}"/> or <see cref="IReadOnlyCollection{T}"/>) is checked whole before anything is sent; a lazy sequence, and the messages of
/// a request source, are checked as they are pulled, and a bad one stops the fetch with an
/// <see cref="ArgumentException"/> naming it. The fetcher owns the <see cref="HttpRequestMessage"/> instances it pulls and
/// disposes them; with a retrying pipeline later attempts send copies that share the original's content, which must
/// therefore be re-readable (<see cref="ByteArrayContent"/>, <see cref="StringContent"/>, a seekable stream).
/// </para>
/// <para>
/// Whatever one request's attempts throw becomes that request's result (see <see cref="FetchErrorKind"/>); only the
/// caller's cancellation, <see cref="FetchOptions.FailFast"/>, invalid arguments and the caller's own source end the
/// fetch. Redirects follow the client's own rules: one the client does not follow (turned off, or to a non-http(s)
/// scheme) is a <see cref="FetchErrorKind.HttpStatus"/> error with the 3xx status. A request's response is disposed
/// before its slot frees. URIs in messages have their user info masked.
/// </para>
/// <para>
/// Each enumeration of a returned sequence is its own pass over the source with its own slots, as a LINQ query is.
/// Every member is safe to call concurrently; each call is an independent fetch with its own slots.
/// </para>
/// </remarks>
public sealed class ConcurrentHttpFetcher
{
    private readonly HttpClient? _client;
    private readonly IHttpClientFactory? _factory;
    private readonly string? _clientName;
    private readonly FetchOptions _options;

    /// <summary>Creates a fetcher that sends through <paramref name="httpClient"/> with default options.</summary>
    /// <param name="httpClient">The client; the fetcher does not dispose it.</param>
    /// <exception cref="ArgumentNullException"><paramref name="httpClient"/> is null.</exception>
    public ConcurrentHttpFetcher(HttpClient httpClient)
        : this(httpClient, null)
    {
    }

    /// <summary>Creates a fetcher that sends through <paramref name="httpClient"/>.</summary>
    /// <param name="httpClient">The client; the fetcher does not dispose it.</param>
    /// <param name="options">The options, copied now; null for the defaults.</param>
    /// <exception cref="ArgumentNullException"><paramref name="httpClient"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="options"/> break a rule of <see cref="FetchOptions"/> (among them: both
    /// <see cref="FetchOptions.Retry"/> and <see cref="FetchOptions.ResiliencePipeline"/> set, or invalid nested retry options); the message lists each one.</exception>
    public ConcurrentHttpFetcher(HttpClient httpClient, FetchOptions? options)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        _client = httpClient;
        _options = options?.Snapshot(nameof(options)) ?? new FetchOptions();
    }

    /// <summary>Creates a fetcher that sends through the named client of <paramref name="httpClientFactory"/>, created once per fetch.</summary>
    /// <param name="httpClientFactory">The factory.</param>
    /// <param name="clientName">The name of the client (configured with <c>AddHttpClient(name)</c>).</param>
    /// <param name="options">The options, copied now; null for the defaults.</param>
    /// <exception cref="ArgumentNullException"><paramref name="httpClientFactory"/> or <paramref name="clientName"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="options"/> break a rule of <see cref="FetchOptions"/> (among them: both
    /// <see cref="FetchOptions.Retry"/> and <see cref="FetchOptions.ResiliencePipeline"/> set, or invalid nested retry options); the message lists each one.</exception>
    public ConcurrentHttpFetcher(IHttpClientFactory httpClientFactory, string clientName, FetchOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(httpClientFactory);
        ArgumentNullException.ThrowIfNull(clientName);
        _factory = httpClientFactory;
        _clientName = clientName;
        _options = options?.Snapshot(nameof(options)) ?? new FetchOptions();
    }

    /// <summary>GETs every URI and deserializes each body as JSON; yields the results as they complete (with their <see cref="FetchResult{T}.Index"/>).</summary>
    /// <typeparam name="T">The type of the JSON documents.</typeparam>
    /// <param name="uris">The URIs, pulled lazily; each must be an absolute http or https URI, or a relative one resolved against the client's <see cref="HttpClient.BaseAddress"/>.</param>
    /// <param name="jsonTypeInfo">Source-generated metadata for <typeparamref name="T"/> (trimming- and AOT-safe).</param>
    /// <param name="cancellationToken">Cancels the whole fetch.</param>
    /// <returns>One result per URI, in completion order.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A URI is null, not http(s), or relative while the client has no <see cref="HttpClient.BaseAddress"/> (for a lazy sequence: when it is pulled).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="FetchFailedException">A request failed with <see cref="FetchOptions.FailFast"/> set.</exception>
    public IAsyncEnumerable<FetchResult<T>> FetchAsync<T>(IEnumerable<Uri> uris, JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        ArgumentNullException.ThrowIfNull(uris);
        var client = Client();
        return FetchRun<T>.RunAsync(client, _options, new JsonResponseReader<T>(jsonTypeInfo), CreateSource(uris, client.BaseAddress), cancellationToken);
    }

    /// <summary>GETs every URI and deserializes each body as JSON; yields the results as they complete (with their <see cref="FetchResult{T}.Index"/>).</summary>
    /// <typeparam name="T">The type of the JSON documents.</typeparam>
    /// <param name="uris">The URIs, pulled lazily, each enumeration of the result its own pass; each must be an absolute http or https URI, or a relative one resolved against the client's <see cref="HttpClient.BaseAddress"/>.</param>
    /// <param name="jsonTypeInfo">Source-generated metadata for <typeparamref name="T"/> (trimming- and AOT-safe).</param>
    /// <param name="cancellationToken">Cancels the whole fetch.</param>
    /// <returns>One result per URI, in completion order.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A URI is null, not http(s), or relative while the client has no <see cref="HttpClient.BaseAddress"/> (for a lazy sequence: when it is pulled).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="FetchFailedException">A request failed with <see cref="FetchOptions.FailFast"/> set.</exception>
    public IAsyncEnumerable<FetchResult<T>> FetchAsync<T>(IAsyncEnumerable<Uri> uris, JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uris);
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        var client = Client();
        return FetchRun<T>.RunAsync(client, _options, new JsonResponseReader<T>(jsonTypeInfo), new AsyncUriSource(uris, client.BaseAddress), cancellationToken);
    }

    /// <summary>Sends every request and deserializes each body as JSON; yields the results as they complete (with their <see cref="FetchResult{T}.Index"/>).</summary>
    /// <typeparam name="T">The type of the JSON documents.</typeparam>
    /// <param name="requests">The requests, pulled lazily; the fetcher owns and disposes them. A relative request URI is resolved against the client's <see cref="HttpClient.BaseAddress"/>.</param>
    /// <param name="jsonTypeInfo">Source-generated metadata for <typeparamref name="T"/> (trimming- and AOT-safe).</param>
    /// <param name="cancellationToken">Cancels the whole fetch.</param>
    /// <returns>One result per request, in completion order.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A request has no URI, a non-http(s) one, or a relative one while the client has no <see cref="HttpClient.BaseAddress"/> (when it is pulled).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="FetchFailedException">A request failed with <see cref="FetchOptions.FailFast"/> set.</exception>
    public IAsyncEnumerable<FetchResult<T>> FetchAsync<T>(IAsyncEnumerable<HttpRequestMessage> requests, JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        var client = Client();
        return FetchRun<T>.RunAsync(client, _options, new JsonResponseReader<T>(jsonTypeInfo), new RequestSource(requests, client.BaseAddress), cancellationToken);
    }

    /// <summary>GETs every URI and deserializes each body as JSON; returns all results in input order.</summary>
    /// <typeparam name="T">The type of the JSON documents.</typeparam>
    /// <param name="uris">The URIs, pulled lazily; each must be an absolute http or https URI, or a relative one resolved against the client's <see cref="HttpClient.BaseAddress"/>.</param>
    /// <param name="jsonTypeInfo">Source-generated metadata for <typeparamref name="T"/> (trimming- and AOT-safe).</param>
    /// <param name="cancellationToken">Cancels the whole fetch.</param>
    /// <returns>One result per URI; the result of the URI at index <c>i</c> is at index <c>i</c>.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A URI is null, not http(s), or relative while the client has no <see cref="HttpClient.BaseAddress"/> (for a lazy sequence: when it is pulled).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="FetchFailedException">A request failed with <see cref="FetchOptions.FailFast"/> set.</exception>
    public Task<IReadOnlyList<FetchResult<T>>> FetchAllAsync<T>(IEnumerable<Uri> uris, JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        ArgumentNullException.ThrowIfNull(uris);
        var client = Client();
        return FetchRun<T>.CollectAsync(client, _options, new JsonResponseReader<T>(jsonTypeInfo), CreateSource(uris, client.BaseAddress), cancellationToken);
    }

    /// <summary>GETs every URI and deserializes each body as JSON; returns all results in input order.</summary>
    /// <typeparam name="T">The type of the JSON documents.</typeparam>
    /// <param name="uris">The URIs, pulled lazily, each enumeration of the result its own pass; each must be an absolute http or https URI, or a relative one resolved against the client's <see cref="HttpClient.BaseAddress"/>.</param>
    /// <param name="jsonTypeInfo">Source-generated metadata for <typeparamref name="T"/> (trimming- and AOT-safe).</param>
    /// <param name="cancellationToken">Cancels the whole fetch.</param>
    /// <returns>One result per URI; the result of the URI at index <c>i</c> is at index <c>i</c>.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A URI is null, not http(s), or relative while the client has no <see cref="HttpClient.BaseAddress"/> (for a lazy sequence: when it is pulled).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="FetchFailedException">A request failed with <see cref="FetchOptions.FailFast"/> set.</exception>
    public Task<IReadOnlyList<FetchResult<T>>> FetchAllAsync<T>(IAsyncEnumerable<Uri> uris, JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uris);
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        var client = Client();
        return FetchRun<T>.CollectAsync(client, _options, new JsonResponseReader<T>(jsonTypeInfo), new AsyncUriSource(uris, client.BaseAddress), cancellationToken);
    }

    /// <summary>Sends every request and deserializes each body as JSON; returns all results in input order.</summary>
    /// <typeparam name="T">The type of the JSON documents.</typeparam>
    /// <param name="requests">The requests, pulled lazily; the fetcher owns and disposes them. A relative request URI is resolved against the client's <see cref="HttpClient.BaseAddress"/>.</param>
    /// <param name="jsonTypeInfo">Source-generated metadata for <typeparamref name="T"/> (trimming- and AOT-safe).</param>
    /// <param name="cancellationToken">Cancels the whole fetch.</param>
    /// <returns>One result per request; the result of the request at index <c>i</c> is at index <c>i</c>.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A request has no URI, a non-http(s) one, or a relative one while the client has no <see cref="HttpClient.BaseAddress"/> (when it is pulled).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="FetchFailedException">A request failed with <see cref="FetchOptions.FailFast"/> set.</exception>
    public Task<IReadOnlyList<FetchResult<T>>> FetchAllAsync<T>(IAsyncEnumerable<HttpRequestMessage> requests, JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        var client = Client();
        return FetchRun<T>.CollectAsync(client, _options, new JsonResponseReader<T>(jsonTypeInfo), new RequestSource(requests, client.BaseAddress), cancellationToken);
    }

    /// <summary>GETs every URI and reads each response whole (status, headers, body bytes); yields the results as they complete.</summary>
    /// <param name="uris">The URIs, pulled lazily; each must be an absolute http or https URI, or a relative one resolved against the client's <see cref="HttpClient.BaseAddress"/>.</param>
    /// <param name="cancellationToken">Cancels the whole fetch.</param>
    /// <returns>One result per URI, in completion order. A status outside 200-299 is a <see cref="FetchErrorKind.HttpStatus"/> error.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="uris"/> is null.</exception>
    /// <exception cref="ArgumentException">A URI is null, not http(s), or relative while the client has no <see cref="HttpClient.BaseAddress"/> (for a lazy sequence: when it is pulled).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="FetchFailedException">A request failed with <see cref="FetchOptions.FailFast"/> set.</exception>
    public IAsyncEnumerable<FetchResult<RawResponse>> FetchRawAsync(IEnumerable<Uri> uris, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uris);
        var client = Client();
        return FetchRun<RawResponse>.RunAsync(client, _options, RawResponseReader.Instance, CreateSource(uris, client.BaseAddress), cancellationToken);
    }

    /// <summary>GETs every URI and reads each response whole (status, headers, body bytes); yields the results as they complete.</summary>
    /// <param name="uris">The URIs, pulled lazily, each enumeration of the result its own pass; each must be an absolute http or https URI, or a relative one resolved against the client's <see cref="HttpClient.BaseAddress"/>.</param>
    /// <param name="cancellationToken">Cancels the whole fetch.</param>
    /// <returns>One result per URI, in completion order. A status outside 200-299 is a <see cref="FetchErrorKind.HttpStatus"/> error.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="uris"/> is null.</exception>
    /// <exception cref="ArgumentException">A URI is null, not http(s), or relative while the client has no <see cref="HttpClient.BaseAddress"/> (for a lazy sequence: when it is pulled).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="FetchFailedException">A request failed with <see cref="FetchOptions.FailFast"/> set.</exception>
    public IAsyncEnumerable<FetchResult<RawResponse>> FetchRawAsync(IAsyncEnumerable<Uri> uris, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uris);
        var client = Client();
        return FetchRun<RawResponse>.RunAsync(client, _options, RawResponseReader.Instance, new AsyncUriSource(uris, client.BaseAddress), cancellationToken);
    }

    /// <summary>Sends every request and reads each response whole (status, headers, body bytes); yields the results as they complete.</summary>
    /// <param name="requests">The requests, pulled lazily; the fetcher owns and disposes them. A relative request URI is resolved against the client's <see cref="HttpClient.BaseAddress"/>.</param>
    /// <param name="cancellationToken">Cancels the whole fetch.</param>
    /// <returns>One result per request, in completion order. A status outside 200-299 is a <see cref="FetchErrorKind.HttpStatus"/> error.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="requests"/> is null.</exception>
    /// <exception cref="ArgumentException">A request has no URI, a non-http(s) one, or a relative one while the client has no <see cref="HttpClient.BaseAddress"/> (when it is pulled).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="FetchFailedException">A request failed with <see cref="FetchOptions.FailFast"/> set.</exception>
    public IAsyncEnumerable<FetchResult<RawResponse>> FetchRawAsync(IAsyncEnumerable<HttpRequestMessage> requests, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var client = Client();
        return FetchRun<RawResponse>.RunAsync(client, _options, RawResponseReader.Instance, new RequestSource(requests, client.BaseAddress), cancellationToken);
    }

    /// <summary>GETs every URI and reads each response whole (status, headers, body bytes); returns all results in input order.</summary>
    /// <param name="uris">The URIs, pulled lazily; each must be an absolute http or https URI, or a relative one resolved against the client's <see cref="HttpClient.BaseAddress"/>.</param>
    /// <param name="cancellationToken">Cancels the whole fetch.</param>
    /// <returns>One result per URI, in input order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="uris"/> is null.</exception>
    /// <exception cref="ArgumentException">A URI is null, not http(s), or relative while the client has no <see cref="HttpClient.BaseAddress"/> (for a lazy sequence: when it is pulled).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="FetchFailedException">A request failed with <see cref="FetchOptions.FailFast"/> set.</exception>
    public Task<IReadOnlyList<FetchResult<RawResponse>>> FetchAllRawAsync(IEnumerable<Uri> uris, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uris);
        var client = Client();
        return FetchRun<RawResponse>.CollectAsync(client, _options, RawResponseReader.Instance, CreateSource(uris, client.BaseAddress), cancellationToken);
    }

    /// <summary>GETs every URI and reads each response whole (status, headers, body bytes); returns all results in input order.</summary>
    /// <param name="uris">The URIs, pulled lazily, each enumeration of the result its own pass; each must be an absolute http or https URI, or a relative one resolved against the client's <see cref="HttpClient.BaseAddress"/>.</param>
    /// <param name="cancellationToken">Cancels the whole fetch.</param>
    /// <returns>One result per URI, in input order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="uris"/> is null.</exception>
    /// <exception cref="ArgumentException">A URI is null, not http(s), or relative while the client has no <see cref="HttpClient.BaseAddress"/> (for a lazy sequence: when it is pulled).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="FetchFailedException">A request failed with <see cref="FetchOptions.FailFast"/> set.</exception>
    public Task<IReadOnlyList<FetchResult<RawResponse>>> FetchAllRawAsync(IAsyncEnumerable<Uri> uris, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uris);
        var client = Client();
        return FetchRun<RawResponse>.CollectAsync(client, _options, RawResponseReader.Instance, new AsyncUriSource(uris, client.BaseAddress), cancellationToken);
    }

    /// <summary>Sends every request and reads each response whole (status, headers, body bytes); returns all results in input order.</summary>
    /// <param name="requests">The requests, pulled lazily; the fetcher owns and disposes them. A relative request URI is resolved against the client's <see cref="HttpClient.BaseAddress"/>.</param>
    /// <param name="cancellationToken">Cancels the whole fetch.</param>
    /// <returns>One result per request, in input order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="requests"/> is null.</exception>
    /// <exception cref="ArgumentException">A request has no URI, a non-http(s) one, or a relative one while the client has no <see cref="HttpClient.BaseAddress"/> (when it is pulled).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="FetchFailedException">A request failed with <see cref="FetchOptions.FailFast"/> set.</exception>
    public Task<IReadOnlyList<FetchResult<RawResponse>>> FetchAllRawAsync(IAsyncEnumerable<HttpRequestMessage> requests, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var client = Client();
        return FetchRun<RawResponse>.CollectAsync(client, _options, RawResponseReader.Instance, new RequestSource(requests, client.BaseAddress), cancellationToken);
    }

    private static UriSource CreateSource(IEnumerable<Uri> uris, Uri? baseAddress)
    {
        if (uris is ICollection<Uri> or IReadOnlyCollection<Uri>)
        {
            var index = 0;
            foreach (var uri in uris)
            {
                FetchSource.Resolve(uri, baseAddress, index++, nameof(uris));
            }
        }

        return new UriSource(uris, baseAddress);
    }

    private HttpClient Client() => _client ?? _factory!.CreateClient(_clientName!);
}
