using System.Collections.Concurrent;
using System.Net;

namespace AsyncPatterns.TestSupport;

/// <summary>A request as the <see cref="StubHttpMessageHandler"/> saw it arrive.</summary>
/// <param name="Sequence">The order of arrival, from 0.</param>
/// <param name="Method">The HTTP method.</param>
/// <param name="Uri">The request URI.</param>
/// <param name="Headers">The request headers (name, values), copied at arrival.</param>
/// <param name="Body">The request body as text, or null when there was none.</param>
/// <param name="ArrivedAt">The handler clock's time at arrival.</param>
public sealed record RecordedRequest(
    int Sequence,
    HttpMethod Method,
    Uri? Uri,
    IReadOnlyDictionary<string, string[]> Headers,
    string? Body,
    DateTimeOffset ArrivedAt);

/// <summary>
/// An <see cref="HttpMessageHandler"/> for unit tests: answers from scripts instead of the network, records every
/// request with its arrival time, and counts the requests in flight (current and peak). Delays run on the injected
/// <see cref="TimeProvider"/> (a <c>FakeTimeProvider</c> in tests) and honour the request's cancellation.
/// </summary>
/// <remarks>
/// A request matches the first route (in the order they were added) whose predicate accepts it. A route answers its
/// scripted responses in order and repeats the last one; a request that matches no route gets 404. A request is in
/// flight from its arrival until <c>SendAsync</c> returns or throws.
/// </remarks>
public sealed class StubHttpMessageHandler : HttpMessageHandler
{
    private readonly TimeProvider _timeProvider;
    private readonly List<Route> _routes = [];
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private int _sequence = -1;
    private int _inFlight;
    private int _peakInFlight;

    /// <summary>Creates a handler whose delays and arrival times use <paramref name="timeProvider"/> (default: the system clock).</summary>
    public StubHttpMessageHandler(TimeProvider? timeProvider = null)
    {
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Every request received so far, in arrival order.</summary>
    public IReadOnlyList<RecordedRequest> Requests => [.. _requests.OrderBy(r => r.Sequence)];

    /// <summary>How many requests have arrived.</summary>
    public int RequestCount => Volatile.Read(ref _sequence) + 1;

    /// <summary>Requests in flight now.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>The most requests ever in flight at once.</summary>
    public int PeakInFlight => Volatile.Read(ref _peakInFlight);

    /// <summary>Answers every request not matched by an earlier route with <paramref name="responses"/> in order (the last repeats).</summary>
    public StubHttpMessageHandler OnAnyRequest(params StubResponse[] responses) => OnRequest(_ => true, responses);

    /// <summary>Answers requests whose absolute path equals <paramref name="path"/>.</summary>
    public StubHttpMessageHandler OnPath(string path, params StubResponse[] responses) =>
        OnRequest(r => string.Equals(r.RequestUri?.AbsolutePath, path, StringComparison.Ordinal), responses);

    /// <summary>Answers requests accepted by <paramref name="match"/> with <paramref name="responses"/> in order (the last repeats).</summary>
    public StubHttpMessageHandler OnRequest(Func<HttpRequestMessage, bool> match, params StubResponse[] responses)
    {
        ArgumentNullException.ThrowIfNull(match);
        ArgumentNullException.ThrowIfNull(responses);
        if (responses.Length == 0)
        {
            throw new ArgumentException("At least one response is needed.", nameof(responses));
        }

        var queue = new ScriptedResponses(responses);
        return AddRoute(match, (request, ct) => queue.Next().ToResponseAsync(request, _timeProvider, ct));
    }

    /// <summary>Answers requests accepted by <paramref name="match"/> with a response computed by <paramref name="responder"/>.</summary>
    public StubHttpMessageHandler OnRequest(Func<HttpRequestMessage, bool> match, Func<HttpRequestMessage, StubResponse> responder)
    {
        ArgumentNullException.ThrowIfNull(responder);
        return AddRoute(match, (request, ct) => responder(request).ToResponseAsync(request, _timeProvider, ct));
    }

    /// <summary>Answers requests accepted by <paramref name="match"/> with a fully custom asynchronous responder.</summary>
    public StubHttpMessageHandler OnRequest(
        Func<HttpRequestMessage, bool> match,
        Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> responder) => AddRoute(match, responder);

    /// <inheritdoc />
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var current = Interlocked.Increment(ref _inFlight);
        UpdatePeak(current);
        try
        {
            var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
            var headers = request.Headers.ToDictionary(h => h.Key, h => h.Value.ToArray(), StringComparer.OrdinalIgnoreCase);
            _requests.Enqueue(new RecordedRequest(
                Interlocked.Increment(ref _sequence), request.Method, request.RequestUri, headers, body, _timeProvider.GetUtcNow()));

            Route? route;
            lock (_routes)
            {
                route = _routes.Find(r => r.Match(request));
            }

            if (route is null)
            {
                return new HttpResponseMessage(HttpStatusCode.NotFound) { RequestMessage = request };
            }

            return await route.Respond(request, cancellationToken).WaitAsync(cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private StubHttpMessageHandler AddRoute(Func<HttpRequestMessage, bool> match, Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> respond)
    {
        ArgumentNullException.ThrowIfNull(match);
        ArgumentNullException.ThrowIfNull(respond);
        lock (_routes)
        {
            _routes.Add(new Route(match, respond));
        }

        return this;
    }

    private void UpdatePeak(int current)
    {
        var peak = Volatile.Read(ref _peakInFlight);
        while (current > peak)
        {
            var seen = Interlocked.CompareExchange(ref _peakInFlight, current, peak);
            if (seen == peak)
            {
                return;
            }

            peak = seen;
        }
    }

    private sealed record Route(Func<HttpRequestMessage, bool> Match, Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> Respond);

    private sealed class ScriptedResponses(StubResponse[] responses)
    {
        private int _next = -1;

        public StubResponse Next() => responses[Math.Min(Interlocked.Increment(ref _next), responses.Length - 1)];
    }
}

/// <summary>Turns a <see cref="StubResponse"/> into a response after its delay on a clock.</summary>
internal static class StubResponseExtensions
{
    public static async Task<HttpResponseMessage> ToResponseAsync(
        this StubResponse response, HttpRequestMessage request, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        if (response.Delay == Timeout.InfiniteTimeSpan || response.Delay > TimeSpan.Zero)
        {
            await Task.Delay(response.Delay, timeProvider, cancellationToken);
        }

        if (response.Exception is not null)
        {
            throw response.Exception;
        }

        return response.ToResponseMessage(request);
    }
}
