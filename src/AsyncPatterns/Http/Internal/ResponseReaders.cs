using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace AsyncPatterns.Http.Internal;

/// <summary>Reads the body of a successful response into the value of a <see cref="FetchResult{T}"/>.</summary>
internal interface IResponseReader<T>
{
    ValueTask<T?> ReadAsync(HttpResponseMessage response, Stream body, CancellationToken cancellationToken);
}

/// <summary>Deserializes the body with source-generated (trimming- and AOT-safe) metadata.</summary>
internal sealed class JsonResponseReader<T>(JsonTypeInfo<T> typeInfo) : IResponseReader<T>
{
    public ValueTask<T?> ReadAsync(HttpResponseMessage response, Stream body, CancellationToken cancellationToken) =>
        JsonSerializer.DeserializeAsync(body, typeInfo, cancellationToken);
}

/// <summary>Reads the whole body into a byte array (already bounded by the <see cref="LimitedReadStream"/>).</summary>
/// <remarks>
/// One array holds at most <see cref="Array.MaxLength"/> bytes: a longer body (declared or read) throws
/// <see cref="ResponseTooLargeException"/> with that limit, whatever <see cref="FetchOptions.MaxResponseBytes"/> allows,
/// so a body is never returned truncated.
/// </remarks>
internal sealed class RawResponseReader(int maxLength) : IResponseReader<RawResponse>
{
    public static readonly RawResponseReader Instance = new(Array.MaxLength);

    public async ValueTask<RawResponse?> ReadAsync(HttpResponseMessage response, Stream body, CancellationToken cancellationToken)
    {
        var declared = response.Content.Headers.ContentLength;
        if (declared > maxLength)
        {
            throw new ResponseTooLargeException(maxLength);
        }

        var buffer = new byte[declared is { } length and > 0 ? Math.Min(length + 1, maxLength) : Math.Min(4096, maxLength)];
        var count = 0;
        while (true)
        {
            if (count == buffer.Length)
            {
                if (count == maxLength)
                {
                    // The largest array is full: the body fits only if it ends here.
                    var probe = new byte[1];
                    if (await body.ReadAsync(probe, cancellationToken).ConfigureAwait(false) > 0)
                    {
                        throw new ResponseTooLargeException(maxLength);
                    }

                    return new RawResponse(response, buffer, count);
                }

                Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, maxLength));
            }

            var read = await body.ReadAsync(buffer.AsMemory(count), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return new RawResponse(response, buffer, count);
            }

            count += read;
        }
    }
}
