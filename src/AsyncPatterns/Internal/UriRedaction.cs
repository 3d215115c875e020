namespace AsyncPatterns.Internal;

/// <summary>
/// Writes URIs for messages, logs, tags and traces with their user info (<c>user:password@</c>) replaced by
/// <c>***</c>, so credentials embedded in a URI never leave the library in text. A URI without user info is written
/// as <see cref="Uri.ToString"/> writes it, with no extra allocation.
/// </summary>
internal static class UriRedaction
{
    /// <summary>What replaces the user info.</summary>
    public const string Mask = "***";

    /// <summary>The URI as text with its user info masked; an empty string for <see langword="null"/>.</summary>
    public static string Redact(Uri? uri)
    {
        if (uri is null)
        {
            return string.Empty;
        }

        if (uri.IsAbsoluteUri && uri.UserInfo.Length == 0)
        {
            return uri.ToString();
        }

        return Redact(uri.IsAbsoluteUri ? uri.ToString() : uri.OriginalString);
    }

    /// <summary>
    /// The text with the user info of its authority masked (<c>scheme://user:pw@host/...</c> or <c>//user:pw@host/...</c>);
    /// text without an authority or without user info is returned as it is. It need not be a valid URI.
    /// </summary>
    public static string Redact(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? string.Empty;
        }

        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        int start;
        if (scheme >= 0 && text.AsSpan(0, scheme).IndexOfAny('/', '?', '#') < 0)
        {
            start = scheme + 3;
        }
        else if (text.StartsWith("//", StringComparison.Ordinal))
        {
            start = 2;
        }
        else
        {
            return text;
        }

        var length = text.AsSpan(start).IndexOfAny('/', '?', '#');
        var end = length < 0 ? text.Length : start + length;
        var at = text.AsSpan(start, end - start).LastIndexOf('@');
        return at < 0 ? text : string.Concat(text.AsSpan(0, start), Mask, text.AsSpan(start + at));
    }
}
