using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using AsyncPatterns.Internal;

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
        if (!Uri.TryCreate(continuationToken, UriKind.Absolute, out var uri) || !SameOrigin(uri))
        {
            throw new ArgumentException(
                $"The continuation token '{UriRedaction.Redact(continuationToken)}' is not a Link-header token of this paginator (an absolute URI on {Origin(firstPageUri)}).",
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
            ThrowIfFailed(response, uri);
            var next = NextPage(response, uri);
            var items = new List<T>();
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                await foreach (var item in JsonSerializer.DeserializeAsyncEnumerable(stream, itemTypeInfo, cancellationToken).ConfigureAwait(false))
                {
                    items.Add(item!);
                }
            }

            return new Page<T>(items, next, response);
        }
        finally
        {
            // Headers and status stay readable on the returned page; the content has been read.
            response.Dispose();
        }
    }

    /// <summary>
    /// A page that is not a success throws <see cref="HttpRequestException"/> carrying the status, with a message that
    /// names the page (user info redacted), so the caller knows which of many pages failed.
    /// </summary>
    private static void ThrowIfFailed(HttpResponseMessage response, Uri requested)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var status = (int)response.StatusCode;
        var reason = string.IsNullOrEmpty(response.ReasonPhrase) ? response.StatusCode.ToString() : response.ReasonPhrase;
        throw new HttpRequestException(
            $"The page GET {UriRedaction.Redact(requested)} failed with status {status.ToString(System.Globalization.CultureInfo.InvariantCulture)} ({reason}).",
            inner: null,
            response.StatusCode);
    }

    /// <summary>
    /// The absolute URI of the next page, or null on the last page. A target that is not a URI, or one on another
    /// origin than the first page (the client would send its default headers, credentials included, there), throws.
    /// </summary>
    private string? NextPage(HttpResponseMessage response, Uri requested)
    {
        string? next = null;
        if (response.Headers.TryGetValues("Link", out var values))
        {
            foreach (var value in values)
            {
                next ??= FindNext(value);
            }
        }

        if (next is null)
        {
            return null;
        }

        if (!Uri.TryCreate(requested, next, out var target) || !target.IsAbsoluteUri)
        {
            throw new HttpRequestException(
                HttpRequestError.InvalidResponse,
                $"The Link header of '{UriRedaction.Redact(requested)}' names a next page that is not a URI: '{UriRedaction.Redact(next)}'.");
        }

        if (!SameOrigin(target))
        {
            throw new HttpRequestException(
                HttpRequestError.InvalidResponse,
                $"The Link header of '{UriRedaction.Redact(requested)}' names a next page on {Origin(target)}, another origin than the first page's {Origin(firstPageUri)}; "
                + "the paginator does not follow it, because the client would send its default headers (such as Authorization) there. "
                + "Use Paginator.FromCursor to follow links across origins deliberately.");
        }

        return target.AbsoluteUri;
    }

    private bool SameOrigin(Uri uri) =>
        Uri.Compare(uri, firstPageUri, UriComponents.SchemeAndServer, UriFormat.UriEscaped, StringComparison.OrdinalIgnoreCase) == 0;

    private static string Origin(Uri uri) => uri.GetComponents(UriComponents.SchemeAndServer, UriFormat.UriEscaped);

    /// <summary>
    /// Finds the target of <c>rel="next"</c> in one Link header value, as RFC 8288 defines it:
    /// <c>&lt;uri&gt; *( ";" param [ "=" ( token / quoted-string ) ] )</c>, link values separated by commas. Commas,
    /// semicolons and angle brackets inside quoted strings are data; only the first <c>rel</c> of a link counts.
    /// </summary>
    internal static string? FindNext(string header)
    {
        var position = 0;
        while (position < header.Length)
        {
            SkipWhitespaceAndCommas(header, ref position);
            if (position >= header.Length)
            {
                return null;
            }

            if (header[position] != '<')
            {
                // Not a link value: skip it up to the next comma outside quotes.
                SkipToNextLinkValue(header, ref position);
                continue;
            }

            var close = header.IndexOf('>', position + 1);
            if (close < 0)
            {
                return null;
            }

            var target = header[(position + 1)..close];
            position = close + 1;
            if (IsNextLink(header, ref position))
            {
                return target;
            }
        }

        return null;
    }

    /// <summary>Reads the parameters of one link value up to the comma that ends it; true if its first rel holds "next".</summary>
    private static bool IsNextLink(string header, ref int position)
    {
        var isNext = false;
        var relSeen = false;
        while (true)
        {
            SkipWhitespace(header, ref position);
            if (position >= header.Length)
            {
                return isNext;
            }

            if (header[position] == ',')
            {
                position++;
                return isNext;
            }

            if (header[position] != ';')
            {
                SkipToNextLinkValue(header, ref position);
                return isNext;
            }

            position++;
            SkipWhitespace(header, ref position);
            var nameStart = position;
            while (position < header.Length && header[position] is not ('=' or ';' or ',' or ' ' or '\t'))
            {
                position++;
            }

            var name = header.AsSpan(nameStart, position - nameStart);
            SkipWhitespace(header, ref position);
            string? value = null;
            if (position < header.Length && header[position] == '=')
            {
                position++;
                SkipWhitespace(header, ref position);
                value = ReadValue(header, ref position);
            }

            if (!relSeen && value is not null && name.Equals("rel", StringComparison.OrdinalIgnoreCase))
            {
                relSeen = true;
                foreach (var type in value.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
                {
                    isNext |= type.Equals("next", StringComparison.OrdinalIgnoreCase);
                }
            }
        }
    }

    /// <summary>Reads a token or a quoted string (with its backslash escapes); an unterminated quote runs to the end.</summary>
    private static string ReadValue(string header, ref int position)
    {
        if (position < header.Length && header[position] == '"')
        {
            var value = new System.Text.StringBuilder();
            position++;
            while (position < header.Length)
            {
                var c = header[position++];
                if (c == '"')
                {
                    return value.ToString();
                }

                if (c == '\\' && position < header.Length)
                {
                    c = header[position++];
                }

                value.Append(c);
            }

            // Unterminated: the rest of the header was inside the quotes, so it holds no further link.
            return string.Empty;
        }

        var start = position;
        while (position < header.Length && header[position] is not (';' or ',' or ' ' or '\t'))
        {
            position++;
        }

        return header[start..position];
    }

    private static void SkipToNextLinkValue(string header, ref int position)
    {
        while (position < header.Length && header[position] != ',')
        {
            if (header[position] == '"')
            {
                _ = ReadValue(header, ref position);
                continue;
            }

            position++;
        }
    }

    private static void SkipWhitespace(string header, ref int position)
    {
        while (position < header.Length && header[position] is ' ' or '\t')
        {
            position++;
        }
    }

    private static void SkipWhitespaceAndCommas(string header, ref int position)
    {
        while (position < header.Length && header[position] is ' ' or '\t' or ',')
        {
            position++;
        }
    }
}
