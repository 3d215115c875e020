using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace AsyncPatterns.Http;

/// <summary>A response read whole for non-JSON use: status, headers and body bytes, detached from the connection.</summary>
public sealed class RawResponse
{
    private readonly byte[] _body;
    private readonly int _length;

    internal RawResponse(HttpResponseMessage response, byte[] body, int length)
    {
        StatusCode = response.StatusCode;
        var headers = new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase);
        foreach (var header in response.Headers)
        {
            headers[header.Key] = [.. header.Value];
        }

        foreach (var header in response.Content.Headers)
        {
            headers[header.Key] = [.. header.Value];
        }

        Headers = headers;
        ContentType = response.Content.Headers.ContentType;
        _body = body;
        _length = length;
    }

    /// <summary>The status code.</summary>
    public HttpStatusCode StatusCode { get; }

    /// <summary>The response and content headers, by case-insensitive name.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Headers { get; }

    /// <summary>The content type, or <see langword="null"/> when the response had none.</summary>
    public MediaTypeHeaderValue? ContentType { get; }

    /// <summary>The body bytes.</summary>
    public ReadOnlyMemory<byte> Body => _body.AsMemory(0, _length);

    /// <summary>Decodes the body with the charset of <see cref="ContentType"/>, or UTF-8 when it names none.</summary>
    /// <returns>The body as text.</returns>
    /// <exception cref="InvalidOperationException">The charset is not supported.</exception>
    public string GetBodyAsString()
    {
        var encoding = Encoding.UTF8;
        if (ContentType?.CharSet is { Length: > 0 } charset)
        {
            try
            {
                encoding = Encoding.GetEncoding(charset.Trim('"'));
            }
            catch (ArgumentException e)
            {
                throw new InvalidOperationException($"The charset '{charset}' is not supported.", e);
            }
        }

        return encoding.GetString(_body, 0, _length);
    }
}
