using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace AsyncPatterns.TestSupport;

/// <summary>
/// One scripted answer of a <see cref="StubHttpMessageHandler"/>: a status, headers, a body (JSON, text, bytes or a
/// chunked body without Content-Length), or an exception, optionally after a delay on the handler's clock.
/// Immutable: the <c>With*</c> methods return a changed copy, so one script can be reused.
/// </summary>
public sealed record StubResponse
{
    private StubResponse()
    {
    }

    /// <summary>The status code of the response.</summary>
    public HttpStatusCode StatusCode { get; init; } = HttpStatusCode.OK;

    /// <summary>The body bytes, or null for an empty body.</summary>
    public byte[]? Body { get; init; }

    /// <summary>The body's media type.</summary>
    public string? MediaType { get; init; }

    /// <summary>Whether the body is sent without Content-Length, in chunks.</summary>
    public bool Chunked { get; init; }

    /// <summary>The chunk size of a chunked body.</summary>
    public int ChunkSize { get; init; } = 8192;

    /// <summary>How long the handler waits on its clock before it answers (or throws).</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>The exception thrown instead of answering.</summary>
    public Exception? Exception { get; init; }

    /// <summary>Response headers (name, value).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    /// <summary>An empty response with <paramref name="statusCode"/>.</summary>
    public static StubResponse Status(HttpStatusCode statusCode) => new() { StatusCode = statusCode };

    /// <summary>A 200 (or <paramref name="statusCode"/>) with a JSON body given as text.</summary>
    public static StubResponse Json(string json, HttpStatusCode statusCode = HttpStatusCode.OK) =>
        new() { StatusCode = statusCode, Body = Encoding.UTF8.GetBytes(json), MediaType = "application/json" };

    /// <summary>A 200 (or <paramref name="statusCode"/>) with a plain-text body.</summary>
    public static StubResponse Text(string text, HttpStatusCode statusCode = HttpStatusCode.OK) =>
        new() { StatusCode = statusCode, Body = Encoding.UTF8.GetBytes(text), MediaType = "text/plain" };

    /// <summary>A 200 (or <paramref name="statusCode"/>) with raw body bytes.</summary>
    public static StubResponse Bytes(byte[] body, HttpStatusCode statusCode = HttpStatusCode.OK) =>
        new() { StatusCode = statusCode, Body = body, MediaType = "application/octet-stream" };

    /// <summary>A 200 whose body of <paramref name="length"/> bytes is sent in chunks without Content-Length.</summary>
    public static StubResponse ChunkedBody(int length, int chunkSize = 8192) =>
        new() { Body = new byte[length], MediaType = "application/octet-stream", Chunked = true, ChunkSize = chunkSize };

    /// <summary>A 429 Too Many Requests with <c>Retry-After</c> as delta-seconds.</summary>
    public static StubResponse TooManyRequests(TimeSpan retryAfter) =>
        Status(HttpStatusCode.TooManyRequests).WithRetryAfter(retryAfter);

    /// <summary>Throws <paramref name="exception"/> from <c>SendAsync</c> instead of answering.</summary>
    public static StubResponse Throw(Exception exception) => new() { Exception = exception };

    /// <summary>Never answers: waits until the request is cancelled.</summary>
    public static StubResponse Hang() => new() { Delay = Timeout.InfiniteTimeSpan };

    /// <summary>Adds a response header.</summary>
    public StubResponse WithHeader(string name, string value) => this with { Headers = [.. Headers, new(name, value)] };

    /// <summary>Adds <c>Retry-After</c> as delta-seconds.</summary>
    public StubResponse WithRetryAfter(TimeSpan delay) =>
        WithHeader("Retry-After", ((long)delay.TotalSeconds).ToString(CultureInfo.InvariantCulture));

    /// <summary>Adds <c>Retry-After</c> as an HTTP-date.</summary>
    public StubResponse WithRetryAfter(DateTimeOffset date) => WithHeader("Retry-After", date.ToString("R", CultureInfo.InvariantCulture));

    /// <summary>Answers after <paramref name="delay"/> on the handler's clock.</summary>
    public StubResponse WithDelay(TimeSpan delay) => this with { Delay = delay };

    /// <summary>Makes the HTTP response message for <paramref name="request"/>.</summary>
    public HttpResponseMessage ToResponseMessage(HttpRequestMessage request)
    {
        var response = new HttpResponseMessage(StatusCode) { RequestMessage = request };
        if (Body is not null)
        {
            HttpContent content = Chunked ? new ChunkedContent(Body, ChunkSize) : new ByteArrayContent(Body);
            if (MediaType is not null)
            {
                content.Headers.ContentType = new MediaTypeHeaderValue(MediaType);
            }

            response.Content = content;
        }

        foreach (var (name, value) in Headers)
        {
            if (!response.Headers.TryAddWithoutValidation(name, value))
            {
                response.Content.Headers.TryAddWithoutValidation(name, value);
            }
        }

        return response;
    }

    /// <summary>A body of unknown length, written in chunks (no Content-Length), as a chunked HTTP/1.1 body arrives.</summary>
    private sealed class ChunkedContent(byte[] body, int chunkSize) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            await SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            for (var offset = 0; offset < body.Length; offset += chunkSize)
            {
                await stream.WriteAsync(body.AsMemory(offset, Math.Min(chunkSize, body.Length - offset)), cancellationToken);
            }
        }

        protected override Task<Stream> CreateContentReadStreamAsync() =>
            Task.FromResult<Stream>(new NonSeekableStream(new MemoryStream(body, writable: false)));

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    private sealed class NonSeekableStream(Stream inner) : Stream
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

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, 4096));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            inner.ReadAsync(buffer[..Math.Min(buffer.Length, 4096)], cancellationToken);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
