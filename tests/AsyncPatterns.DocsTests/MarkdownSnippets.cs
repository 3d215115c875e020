using System.Text.RegularExpressions;

namespace AsyncPatterns.DocsTests;

/// <summary>One ```csharp block of a Markdown file, with the hidden code of the snippet comment above it.</summary>
/// <param name="File">The Markdown file, relative to the repository root (as it is named in failures).</param>
/// <param name="Line">The 1-based line of the block's first code line.</param>
/// <param name="Code">The block's code.</param>
/// <param name="HiddenUsings">Using directives of the snippet comment, compiled before the block.</param>
/// <param name="HiddenCode">The rest of the snippet comment, compiled after the block.</param>
/// <param name="HiddenLine">The 1-based line where the snippet comment's code starts (0 when there is none).</param>
public sealed record MarkdownSnippet(string File, int Line, string Code, string HiddenUsings, string HiddenCode, int HiddenLine)
{
    /// <summary>How a test case names the block: <c>README.md:71</c>.</summary>
    public override string ToString() => $"{File}:{Line}";
}

/// <summary>
/// Extracts the ```csharp blocks of a Markdown file. A block may be preceded (on the line just above its fence) by a
/// snippet comment, <c>&lt;!-- snippet: ... --&gt;</c> on one or several lines, holding C# the block assumes but does
/// not show: its <c>using</c> directives are compiled before the block, everything else (type declarations) after it.
/// </summary>
public static partial class MarkdownSnippets
{
    private const string SnippetCommentStart = "<!-- snippet:";

    /// <summary>The C# blocks of <paramref name="markdown"/>, in order.</summary>
    public static IReadOnlyList<MarkdownSnippet> Extract(string file, string markdown)
    {
        var lines = markdown.ReplaceLineEndings("\n").Split('\n');
        var snippets = new List<MarkdownSnippet>();
        for (var i = 0; i < lines.Length; i++)
        {
            var fence = FenceRegex().Match(lines[i]);
            if (!fence.Success)
            {
                continue;
            }

            var language = fence.Groups["lang"].Value;
            var start = i + 1;
            var end = start;
            while (end < lines.Length && !ClosingFenceRegex().IsMatch(lines[end]))
            {
                end++;
            }

            if (end == lines.Length)
            {
                throw new FormatException($"{file}:{i + 1}: the ``` fence opened here is never closed.");
            }

            if (language is "csharp" or "cs" or "c#")
            {
                var (usings, hidden, hiddenLine) = ReadSnippetComment(file, lines, i - 1);
                snippets.Add(new MarkdownSnippet(
                    file, start + 1, string.Join('\n', lines[start..end]), usings, hidden, hiddenLine));
            }
            else if (language.Length == 0)
            {
                throw new FormatException($"{file}:{i + 1}: a code block needs a language (```csharp, ```bash ...).");
            }

            i = end;
        }

        return snippets;
    }

    private static (string Usings, string Code, int Line) ReadSnippetComment(string file, string[] lines, int last)
    {
        if (last < 0 || !lines[last].TrimEnd().EndsWith("-->", StringComparison.Ordinal))
        {
            return ("", "", 0);
        }

        var first = last;
        while (first > 0 && !lines[first].Contains("<!--", StringComparison.Ordinal))
        {
            first--;
        }

        var comment = string.Join('\n', lines[first..(last + 1)]).Trim();
        if (!comment.StartsWith(SnippetCommentStart, StringComparison.Ordinal))
        {
            if (comment.StartsWith("<!-- snippet", StringComparison.Ordinal))
            {
                throw new FormatException($"{file}:{first + 1}: a snippet comment starts with \"{SnippetCommentStart}\".");
            }

            return ("", "", 0);
        }

        var body = comment[SnippetCommentStart.Length..^"-->".Length];
        var usings = new List<string>();
        var code = new List<string>();
        foreach (var line in body.Split('\n'))
        {
            // One-line comments may hold several directives: <!-- snippet: using A; using B; -->
            var rest = line.Trim();
            while (UsingDirectiveRegex().Match(rest) is { Success: true } directive)
            {
                usings.Add(directive.Value.Trim());
                rest = rest[directive.Length..].Trim();
            }

            code.Add(rest);
        }

        // The comment's code starts on the comment's first line, after "<!-- snippet:".
        return (string.Join('\n', usings), string.Join('\n', code), first + 1);
    }

    [GeneratedRegex(@"^\s*```(?<lang>[^\s`]*)\s*$")]
    private static partial Regex FenceRegex();

    [GeneratedRegex(@"^\s*```\s*$")]
    private static partial Regex ClosingFenceRegex();

    [GeneratedRegex(@"^\s*using\s+(static\s+)?[\w.]+(\s*=\s*[\w.<>]+)?\s*;")]
    private static partial Regex UsingDirectiveRegex();
}
