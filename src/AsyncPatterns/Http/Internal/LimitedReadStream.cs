namespace AsyncPatterns.Http.Internal;

/// <summary>Thrown by <see cref="LimitedReadStream"/> when a body grows past the limit.</summary>
internal sealed class ResponseTooLargeException(long limit)
    : Exception($"The response body is longer than the limit of {limit} bytes.")
{
    public long Limit { get; } = limit;
}

/// <summary>
/// A read-only view of a response stream that throws <see cref="ResponseTooLargeException"/> as soon as more than
/// <c>limit</c> bytes have been read, so a body without Content-Length is never buffered past the limit.
/// </summary>
internal sealed class LimitedReadStream(Stream inner, long limit) : Stream
{
    private long _total;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _total;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

    public override int Read(Span<byte> buffer) => Count(inner.Read(buffer));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private int Count(int read)
    {
        _total += read;
        if (_total > limit)
        {
            throw new ResponseTooLargeException(limit);
        }

        return read;
    }
}
