namespace AsyncPatterns.DocsTests;

/// <summary>Every C# block of the documentation compiles against the library as it is built now.</summary>
public sealed class DocumentationSnippetTests
{
    /// <summary>The Markdown files whose C# blocks are compiled, relative to the repository root.</summary>
    private static readonly string[] Documents = ["README.md", "docs/coming-from-asyncio.md"];

    public static TheoryData<string, int> Snippets()
    {
        var data = new TheoryData<string, int>();
        foreach (var snippet in Documents.SelectMany(Load))
        {
            data.Add(snippet.File, snippet.Line);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Snippets))]
    public void Snippet_AtLine_Compiles(string file, int line)
    {
        var snippet = Load(file).Single(s => s.Line == line);

        var errors = SnippetCompiler.Compile(snippet);

        errors.Should().BeEmpty(
            "the C# block at {0}:{1} must compile as shown (declare what it assumes in a <!-- snippet: --> comment " +
            "above it, see CONTRIBUTING.md); generated source:\n{2}", file, line, SnippetCompiler.GenerateSource(snippet));
    }

    [Fact]
    public void Readme_HasTheCSharpBlocksOfEveryNamespace()
    {
        var snippets = Load("README.md");

        snippets.Should().HaveCountGreaterThanOrEqualTo(19);
        foreach (var ns in new[] { "Connections", "Http", "Pagination", "TaskGroups", "RateLimiting", "BackgroundTasks", "Timeouts", "Retries", "Redis" })
        {
            snippets.Should().Contain(s => s.Code.Contains($"using AsyncPatterns.{ns};", StringComparison.Ordinal), "the {0} section shows its namespace", ns);
        }
    }

    [Fact]
    public async Task Readme_BackgroundTaskTrackerExample_PrintsTheReportItsCommentShows()
    {
        var snippet = Load("README.md").Single(s => s.Code.Contains("new BackgroundTaskTracker(", StringComparison.Ordinal));
        var comment = System.Text.RegularExpressions.Regex.Match(snippet.Code, @"Console\.WriteLine\(report\);\s*// ""(?<printed>[^""]+)""");
        comment.Success.Should().BeTrue("the example shows what Console.WriteLine(report) prints in a comment");

        var output = await SnippetCompiler.RunAsync(snippet, TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

        output.ReplaceLineEndings("\n").Split('\n').Should().Contain(comment.Groups["printed"].Value);
    }

    [Fact]
    public void Compile_BlockThatDoesNotCompile_NamesTheBlocksFileAndLine()
    {
        const string markdown = """
            Text.

            ```csharp
            var ok = 1;
            UndefinedType x = default;
            ```
            """;
        var snippet = MarkdownSnippets.Extract("DOC.md", markdown).Single();

        var errors = SnippetCompiler.Compile(snippet);

        errors.Should().ContainSingle().Which.Should().StartWith("DOC.md(5,1): error CS0246:");
    }

    [Fact]
    public void Compile_MissingUsingForAGeneratedJsonContext_Fails()
    {
        // What the README's fetcher block once did: [JsonSerializable] without using System.Text.Json.Serialization.
        const string markdown = """
            ```csharp
            Console.WriteLine(AppJson.Default.Int32);

            [JsonSerializable(typeof(int))]
            internal sealed partial class AppJson : System.Text.Json.Serialization.JsonSerializerContext;
            ```
            """;

        var errors = SnippetCompiler.Compile(MarkdownSnippets.Extract("DOC.md", markdown).Single());

        errors.Should().Contain(e => e.StartsWith("DOC.md(4,2): error CS0246:", StringComparison.Ordinal));
    }

    [Fact]
    public void Compile_JsonContextWithItsUsing_RunsTheSourceGenerator()
    {
        const string markdown = """
            ```csharp
            using System.Text.Json.Serialization;

            Console.WriteLine(AppJson.Default.Int32);

            [JsonSerializable(typeof(int))]
            internal sealed partial class AppJson : JsonSerializerContext;
            ```
            """;

        SnippetCompiler.Compile(MarkdownSnippets.Extract("DOC.md", markdown).Single()).Should().BeEmpty();
    }

    [Fact]
    public void Extract_SnippetComment_AddsItsUsingsBeforeAndItsDeclarationsAfterTheBlock()
    {
        const string markdown = """
            <!-- snippet: using System.Text; using System.Globalization;
            internal sealed record Hidden(int Value); -->
            ```csharp
            var b = new StringBuilder().Append(new Hidden(1).Value.ToString(CultureInfo.InvariantCulture));
            Console.WriteLine(b);
            ```
            """;

        var snippet = MarkdownSnippets.Extract("DOC.md", markdown).Single();

        snippet.Line.Should().Be(4);
        snippet.HiddenUsings.Should().Be("using System.Text;\nusing System.Globalization;");
        snippet.HiddenCode.Should().Contain("internal sealed record Hidden(int Value);");
        SnippetCompiler.Compile(snippet).Should().BeEmpty();
    }

    [Fact]
    public void Extract_ErrorInTheSnippetComment_NamesTheCommentsLine()
    {
        const string markdown = """
            <!-- snippet:
            internal sealed record Hidden(Missing Value); -->
            ```csharp
            Console.WriteLine(new Hidden(default!));
            ```
            """;

        var errors = SnippetCompiler.Compile(MarkdownSnippets.Extract("DOC.md", markdown).Single());

        errors.Should().Contain(e => e.StartsWith("DOC.md(2,", StringComparison.Ordinal) && e.Contains("CS0246", StringComparison.Ordinal));
    }

    [Fact]
    public void Extract_UnclosedFence_Throws()
    {
        var act = () => MarkdownSnippets.Extract("DOC.md", "a\n```csharp\nvar x = 1;\n");

        act.Should().Throw<FormatException>().WithMessage("DOC.md:2:*never closed*");
    }

    [Fact]
    public void Extract_MisspelledSnippetComment_Throws()
    {
        var act = () => MarkdownSnippets.Extract("DOC.md", "<!-- snippet using System.Text; -->\n```csharp\nvar x = 1;\n```\n");

        act.Should().Throw<FormatException>().WithMessage("DOC.md:1:*<!-- snippet:*");
    }

    private static IReadOnlyList<MarkdownSnippet> Load(string file) =>
        MarkdownSnippets.Extract(file, File.ReadAllText(Path.Combine(RepositoryRoot(), file)));

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "AsyncPatterns.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No AsyncPatterns.sln above {AppContext.BaseDirectory}.");
    }
}
