using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace AsyncPatterns.Pagination.Internal;

/// <summary>
/// GitHub-style pagination: a JSON array per response and a <c>Link</c> header whose <c>rel="next"</c> entry is the
/// next page; the token is that absolute URI.
/// </summary>
internal sealed class LinkHeaderPageSource<T>(HttpClient httpClient, Uri firstPageUri, JsonTypeInfo<T> itemTypeInfo) : PageSource<T>
{
    public override void ValidateToken(string continuationToken)
    {
        // A resume token is a URI the client will call with its default headers: only the first page's origin is accepted.
        if (!Uri.TryCreate(continuationToken, UriKind.Absolute, out var uri)
            || Uri.Compare(uri, firstPageUri, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) != 0)
        {
            throw new ArgumentException(
                $"The continuation token '{continuationToken}' is not a Link-header token of this paginator (an absolute URI on {firstPageUri.GetLeftPart(UriPartial.Authority)}).",
                nameof(continuationToken));
        }
    }

    public override async Task<Page<T>> FetchAsync(string? continuationToken, int? pageSizeHint, CancellationToken cancellationToken)
    {
        var uri = string.IsNullOrEmpty(continuationToken) ? firstPageUri : new Uri(continuationToken, UriKind.Absolute);
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        var response = await httpClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        try
        {
            response.EnsureSuccessStatusCode();
            var items = new List<T>();
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                await foreach (var item in JsonSerializer.DeserializeAsyncEnumerable(stream, itemTypeInfo, cancellationToken).ConfigureAwait(false))
                {
                    items.Add(item!);
                }
            }

            string? next = null;
            if (response.Headers.TryGetValues("Link", out var values))
            {
                foreach (var value in values)
                {
                    next ??= FindNext(value);
                }
            }

            if (next is not null)
            {
                next = new Uri(uri, next).AbsoluteUri;
            }

            return new Page<T>(items, next, response);
        }
        finally
        {
            // Headers and status stay readable on the returned page; the content has been read.
            response.Dispose();
        }
    }

    /// <summary>Finds the target of <c>rel="next"</c> in one Link header value (RFC 8288: <c>&lt;uri&gt;; rel="next", ...</c>).</summary>
    internal static string? FindNext(string header)
    {
        var position = 0;
        while (position < header.Length)
        {
            var open = header.IndexOf('<', position);
            if (open < 0)
            {
                return null;
            }

            var close = header.IndexOf('>', open + 1);
            if (close < 0)
            {
                return null;
            }

            var target = header[(open + 1)..close];
            var end = header.IndexOf('<', close + 1);
            var parameters = end < 0 ? header[(close + 1)..] : header[(close + 1)..end];
            foreach (var parameter in parameters.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var equals = parameter.IndexOf('=', StringComparison.Ordinal);
                if (equals < 0 || !parameter[..equals].Trim().Equals("rel", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                var rel = parameter[(equals + 1)..].Trim().TrimEnd(',').Trim().Trim('"');
                foreach (var type in rel.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    if (type.Equals("next", StringComparison.OrdinalIgnoreCase))
                    {
                        return target;
                    }
                }
            }

            position = end < 0 ? header.Length : end;
        }

        return null;
    }
}
