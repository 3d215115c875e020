using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using AsyncPatterns.Internal;
using AsyncPatterns.RateLimiting;

namespace AsyncPatterns.Http.Internal;

/// <summary>
/// The attempts of one request: sends each (a new message, a rate-limiter permit, a timeout on the injected clock),
/// counts them, and owns every message, response and timer it created until <see cref="Dispose"/>, so a response
/// that a pipeline retried is disposed even when the pipeline does not dispose it.
/// </summary>
internal sealed class AttemptTracker(HttpClient client, FetchOptions options, PendingRequest request) : IDisposable
{
    // Guarded by this tracker's own monitor (it is never exposed, so no lock object is allocated per request): only a
    // pipeline that runs attempts concurrently (hedging) contends for it. The first attempt is kept in a field, later
    // ones in a list made only when there are any.
    private Attempt? _first;
    private List<Attempt>? _more;
    private HttpRequestMessage? _original = request.Message;
    private int _count;
    private bool _originalSent;

    public int Count => Volatile.Read(ref _count);

    public HttpStatusCode? LastStatusCode { get; private set; }

    /// <summary>One attempt: the callback of the resilience pipeline (or the only call without one).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<HttpResponseMessage> SendAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _count);
        var lease = options.RateLimiter is { } limiter
            ? await limiter.AcquireAsync(1, cancellationToken).ConfigureAwait(false)
            : null;
        try
        {
            if (lease is { IsAcquired: false })
            {
                TimeSpan? retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var delay) ? delay : null;
                throw new RateLimitRejectedException(
                    retryAfter is { } wait
                        ? $"The rate limiter rejected the request; it suggests retrying after {wait.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s."
                        : "The rate limiter rejected the request.",
                    retryAfter);
            }

            HttpRequestMessage message;
            Attempt attempt;
            lock (this)
            {
                message = NextMessage();
                attempt = new Attempt(message, options.PerRequestTimeout, options.TimeProvider, cancellationToken);
                if (_first is null)
                {
                    _first = attempt;
                }
                else
                {
                    (_more ??= []).Add(attempt);
                }
            }

            try
            {
                var response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, attempt.Token).ConfigureAwait(false);
                lock (this)
                {
                    attempt.Response = response;
                    LastStatusCode = response.StatusCode;
                }

                return response;
            }
            catch (Exception e) when (attempt.TimedOut && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException(
                    $"No response from '{UriRedaction.Redact(message.RequestUri)}' within {options.PerRequestTimeout}.", e);
            }
        }
        finally
        {
            lease?.Dispose();
        }
    }

    /// <summary>The token of the attempt that produced <paramref name="response"/>: it bounds reading the body.</summary>
    public CancellationToken TokenFor(HttpResponseMessage response, CancellationToken fallback)
    {
        lock (this)
        {
            return Find(response)?.Token ?? fallback;
        }
    }

    /// <summary>Whether the timeout of the attempt that produced <paramref name="response"/> has fired.</summary>
    public bool TimedOut(HttpResponseMessage? response)
    {
        lock (this)
        {
            return response is not null && Find(response) is { TimedOut: true };
        }
    }

    public void Dispose()
    {
        lock (this)
        {
            _first?.Dispose();
            _first = null;
            if (_more is not null)
            {
                foreach (var attempt in _more)
                {
                    attempt.Dispose();
                }

                _more.Clear();
            }

            _original?.Dispose();
            _original = null;
        }
    }

    /// <summary>The attempt that produced <paramref name="response"/>, if any. Under the lock.</summary>
    private Attempt? Find(HttpResponseMessage response)
    {
        if (ReferenceEquals(_first?.Response, response))
        {
            return _first;
        }

        if (_more is not null)
        {
            foreach (var attempt in _more)
            {
                if (ReferenceEquals(attempt.Response, response))
                {
                    return attempt;
                }
            }
        }

        return null;
    }

    private HttpRequestMessage NextMessage()
    {
        if (request.Message is null)
        {
            return new HttpRequestMessage(HttpMethod.Get, request.Uri);
        }

        if (!_originalSent)
        {
            // The first attempt sends the caller's own message; later ones send copies sharing its content.
            _originalSent = true;
            return request.Message;
        }

        return Copy(request.Message);
    }

    private static HttpRequestMessage Copy(HttpRequestMessage original)
    {
        var copy = new HttpRequestMessage(original.Method, original.RequestUri)
        {
            Version = original.Version,
            VersionPolicy = original.VersionPolicy,
            Content = original.Content,
        };
        foreach (var header in original.Headers)
        {
            copy.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        foreach (var option in original.Options)
        {
            ((IDictionary<string, object?>)copy.Options)[option.Key] = option.Value;
        }

        return copy;
    }

    private sealed class Attempt : IDisposable
    {
        private readonly CancellationTokenSource? _cts;
        private readonly CancellationTokenRegistration _registration;
        private readonly HttpRequestMessage _message;
        private bool _cancelledFromOutside;

        public Attempt(HttpRequestMessage message, TimeSpan timeout, TimeProvider timeProvider, CancellationToken outer)
        {
            _message = message;
            if (timeout == Timeout.InfiniteTimeSpan)
            {
                Token = outer;
                return;
            }

            _cts = new CancellationTokenSource(timeout, timeProvider);
            Token = _cts.Token;
            _registration = outer.UnsafeRegister(
                static state =>
                {
                    var attempt = (Attempt)state!;
                    attempt._cancelledFromOutside = true;
                    attempt._cts!.Cancel();
                },
                this);
        }

        public CancellationToken Token { get; }

        public HttpResponseMessage? Response { get; set; }

        public bool TimedOut => _cts is { IsCancellationRequested: true } && !Volatile.Read(ref _cancelledFromOutside);

        public void Dispose()
        {
            _registration.Dispose();
            Response?.Dispose();
            _cts?.Dispose();
            _message.Dispose();
        }
    }
}
