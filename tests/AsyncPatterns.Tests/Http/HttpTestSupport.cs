using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace AsyncPatterns.Tests.Http;

/// <summary>Source-generated JSON metadata for the tests (the fetcher only takes JsonTypeInfo).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ServerItem))]
internal sealed partial class HttpTestJson : JsonSerializerContext;

/// <summary>
/// A response body that records its disposal and, when <c>hang</c> is set, never ends: a read waits until it is
/// cancelled. It shows that the fetcher cancels and disposes the responses it abandons.
/// </summary>
internal sealed class TrackingContent(string text, bool hang = false) : HttpContent
{
    private int _disposed;

    public bool IsDisposed => Volatile.Read(ref _disposed) == 1;

    public bool ReadStarted { get; private set; }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text)).AsTask();

    protected override Task<Stream> CreateContentReadStreamAsync()
    {
        ReadStarted = true;
        return Task.FromResult<Stream>(hang ? new HangingStream() : new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)));
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        Volatile.Write(ref _disposed, 1);
        base.Dispose(disposing);
    }

    public static HttpResponseMessage Response(HttpRequestMessage request, TrackingContent content, HttpStatusCode status = HttpStatusCode.OK) =>
        new(status) { RequestMessage = request, Content = content };

    private sealed class HangingStream : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => 0; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            return 0;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
