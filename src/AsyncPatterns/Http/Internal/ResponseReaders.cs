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
internal sealed class RawResponseReader : IResponseReader<RawResponse>
{
    public static readonly RawResponseReader Instance = new();

    public async ValueTask<RawResponse?> ReadAsync(HttpResponseMessage response, Stream body, CancellationToken cancellationToken)
    {
        var declared = response.Content.Headers.ContentLength;
        var buffer = new byte[declared is { } length and > 0 and < int.MaxValue ? (int)length + 1 : 4096];
        var count = 0;
        while (true)
        {
            if (count == buffer.Length)
            {
                Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, Array.MaxLength));
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
