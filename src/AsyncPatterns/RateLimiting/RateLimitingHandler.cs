using System.Net;
using System.Threading.RateLimiting;
using AsyncPatterns.Internal;

namespace AsyncPatterns.RateLimiting;

/// <summary>
/// A <see cref="DelegatingHandler"/> that takes one permit of a <see cref="RateLimiter"/> (for example a
/// <see cref="RequestRateLimiter"/>) for every request, and holds it until the response's body has been downloaded.
/// </summary>
/// <remarks>
/// <para>
/// The permit is given back when the body has been read to its end, when reading it fails, or when the response (or
/// its content) is disposed, whichever comes first; a response without a body (<c>Content-Length: 0</c>) gives it back
/// at once. With <see cref="HttpCompletionOption.ResponseContentRead"/> (the default of <see cref="HttpClient"/>) that
/// is once the client has buffered the content; with <see cref="HttpCompletionOption.ResponseHeadersRead"/> it is when
/// the caller has read the body to its end or disposed the response, so a concurrency limit bounds the bodies being
/// downloaded too. Dispose every response: one that is neither read nor disposed keeps its permit.
/// </para>
/// <para>
/// When the limiter rejects the request (its queue is full) the request is not sent and
/// <see cref="RateLimitRejectedException"/> is thrown, carrying the lease's <see cref="MetadataName.RetryAfter"/> if it
/// had one. Cancellation while waiting surfaces as <see cref="OperationCanceledException"/> with the caller's token.
/// The synchronous <see cref="HttpClient.Send(HttpRequestMessage)"/> path cannot wait: it takes a permit only if one is
/// free at once (<see cref="RateLimiter.AttemptAcquire"/>) and throws <see cref="RateLimitRejectedException"/> otherwise.
/// </para>
/// <para>The handler does not own the limiter and never disposes it; one limiter may serve many handlers and clients.</para>
/// </remarks>
public sealed class RateLimitingHandler : DelegatingHandler
{
    private readonly RateLimiter _limiter;

    /// <summary>Initializes a new instance of the <see cref="RateLimitingHandler"/> class.</summary>
    /// <param name="limiter">The limiter every request takes a permit from.</param>
    /// <exception cref="ArgumentNullException"><paramref name="limiter"/> is <see langword="null"/>.</exception>
    public RateLimitingHandler(RateLimiter limiter)
    {
        ArgumentNullException.ThrowIfNull(limiter);
        _limiter = limiter;
    }

    /// <summary>Initializes a new instance of the <see cref="RateLimitingHandler"/> class with an inner handler.</summary>
    /// <param name="limiter">The limiter every request takes a permit from.</param>
    /// <param name="innerHandler">The handler that sends the requests.</param>
    /// <exception cref="ArgumentNullException"><paramref name="limiter"/> or <paramref name="innerHandler"/> is <see langword="null"/>.</exception>
    public RateLimitingHandler(RateLimiter limiter, HttpMessageHandler innerHandler)
        : base(CheckArguments(limiter, innerHandler))
    {
        _limiter = limiter;
    }

    /// <inheritdoc />
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return SendCoreAsync(request, cancellationToken);
    }

    /// <inheritdoc />
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        cancellationToken.ThrowIfCancellationRequested();
        var lease = _limiter.AttemptAcquire(1);
        try
        {
            ThrowIfRejected(lease, request);
            return HoldUntilRead(base.Send(request, cancellationToken), lease);
        }
        catch
        {
            lease.Dispose();
            throw;
        }
    }

    private static HttpMessageHandler CheckArguments(RateLimiter limiter, HttpMessageHandler innerHandler)
    {
        ArgumentNullException.ThrowIfNull(limiter);
        ArgumentNullException.ThrowIfNull(innerHandler);
        return innerHandler;
    }

    private async Task<HttpResponseMessage> SendCoreAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var lease = await _limiter.AcquireAsync(1, cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfRejected(lease, request);
            return HoldUntilRead(await base.SendAsync(request, cancellationToken).ConfigureAwait(false), lease);
        }
        catch
        {
            lease.Dispose();
            throw;
        }
    }

    /// <summary>Hands the lease to the response's content, which gives it back once the body is read or disposed. Never throws.</summary>
    private static HttpResponseMessage HoldUntilRead(HttpResponseMessage response, RateLimitLease lease)
    {
        if (response.Content is not { } content || content.Headers.ContentLength == 0)
        {
            lease.Dispose();
            return response;
        }

        response.Content = new LeasedContent(content, lease);
        return response;
    }

    private static void ThrowIfRejected(RateLimitLease lease, HttpRequestMessage request)
    {
        if (lease.IsAcquired)
        {
            return;
        }

        TimeSpan? retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : null;
        var message = retryAfter is { } after
            ? $"The rate limiter rejected {request.Method} {UriRedaction.Redact(request.RequestUri)}: its queue is full; retry after {after}."
            : $"The rate limiter rejected {request.Method} {UriRedaction.Redact(request.RequestUri)}: its queue is full.";
        throw new RateLimitRejectedException(message, retryAfter);
    }

    /// <summary>
    /// The content of a response whose request holds a permit: it gives the permit back (once) when the body has been
    /// copied or read to its end, when reading fails, or when it is disposed. Its headers are those of the inner content.
    /// </summary>
    private sealed class LeasedContent : HttpContent
    {
        private readonly HttpContent _inner;
        private RateLimitLease? _lease;

        public LeasedContent(HttpContent inner, RateLimitLease lease)
        {
            _inner = inner;
            _lease = lease;
            foreach (var header in inner.Headers)
            {
                Headers.TryAddWithoutValidation(header.Key, header.Value);
            }

            if (inner.Headers.ContentLength is { } length)
            {
                Headers.ContentLength = length;
            }
        }

        public void Release() => Interlocked.Exchange(ref _lease, null)?.Dispose();

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            try
            {
                await _inner.CopyToAsync(stream, context, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                Release();
            }
        }

        protected override void SerializeToStream(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            try
            {
                _inner.CopyTo(stream, context, cancellationToken);
            }
            finally
            {
                Release();
            }
        }

        protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

        protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken)
        {
            try
            {
                return new LeasedStream(await _inner.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), this);
            }
            catch
            {
                Release();
                throw;
            }
        }

        protected override Stream CreateContentReadStream(CancellationToken cancellationToken)
        {
            try
            {
                return new LeasedStream(_inner.ReadAsStream(cancellationToken), this);
            }
            catch
            {
                Release();
                throw;
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                Release();
                _inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>The body stream of a <see cref="LeasedContent"/>: its end, a failed read or its disposal gives the permit back.</summary>
    private sealed class LeasedStream(Stream inner, LeasedContent content) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            try
            {
                return Observe(inner.Read(buffer), buffer.Length);
            }
            catch
            {
                content.Release();
                throw;
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                return Observe(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false), buffer.Length);
            }
            catch
            {
                content.Release();
                throw;
            }
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                content.Release();
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        public override async ValueTask DisposeAsync()
        {
            content.Release();
            await inner.DisposeAsync().ConfigureAwait(false);
            await base.DisposeAsync().ConfigureAwait(false);
        }

        private int Observe(int read, int requested)
        {
            if (read == 0 && requested > 0)
            {
                content.Release();
            }

            return read;
        }
    }
}
