using System.Collections.Immutable;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace AsyncPatterns.DocsTests;

/// <summary>
/// Compiles a snippet as the Program.cs of a console application (top-level statements, the SDK's implicit usings,
/// nullable on), together with <c>SnippetContext.cs</c> (what every snippet may assume) and the System.Text.Json
/// source generator, against the framework, AsyncPatterns, AsyncPatterns.Redis and the packages the README names.
/// </summary>
public static class SnippetCompiler
{
    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        global using static AsyncPatterns.DocsTests.Snippets.SnippetContext;
        """;

    private static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(LoadReferences);

    private static readonly Lazy<ImmutableArray<ISourceGenerator>> Generators = new(LoadGenerators);

    private static readonly Lazy<SyntaxTree[]> SharedTrees = new(() =>
    [
        CSharpSyntaxTree.ParseText(ImplicitUsings, ParseOptions, "ImplicitUsings.cs", Encoding.UTF8),
        CSharpSyntaxTree.ParseText(ReadContext(), ParseOptions, "SnippetContext.cs", Encoding.UTF8),
    ]);

    /// <summary>The generated Program.cs of <paramref name="snippet"/>, with #line directives back into the Markdown file.</summary>
    public static string GenerateSource(MarkdownSnippet snippet)
    {
        var source = new StringBuilder();
        if (snippet.HiddenUsings.Length > 0)
        {
            source.Append(snippet.HiddenUsings).Append('\n');
        }

        source.Append(CultureInfo.InvariantCulture, $"#line {snippet.Line} \"{snippet.File}\"\n");
        source.Append(snippet.Code).Append('\n');
        if (snippet.HiddenCode.Trim().Length > 0)
        {
            source.Append(CultureInfo.InvariantCulture, $"#line {snippet.HiddenLine} \"{snippet.File}\"\n");
            source.Append(snippet.HiddenCode).Append('\n');
        }

        return source.ToString();
    }

    /// <summary>The compiler's errors for <paramref name="snippet"/>, each as <c>README.md(71,5): error CS0246: ...</c>; empty when it compiles.</summary>
    public static IReadOnlyList<string> Compile(MarkdownSnippet snippet) => Compile(snippet, out _);

    /// <summary>
    /// Compiles <paramref name="snippet"/> and runs it as a program (its entry point, in this process, with no
    /// arguments); returns what it wrote to the console. The caller makes sure nothing else writes to it meanwhile.
    /// </summary>
    public static async Task<string> RunAsync(MarkdownSnippet snippet, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var errors = Compile(snippet, out var image);
        if (errors.Count > 0)
        {
            throw new InvalidOperationException($"{snippet} does not compile:\n{string.Join('\n', errors)}");
        }

        var context = new System.Runtime.Loader.AssemblyLoadContext($"snippet {snippet}", isCollectible: true);
        try
        {
            using var stream = new MemoryStream(image);
            var entryPoint = context.LoadFromStream(stream).EntryPoint
                ?? throw new InvalidOperationException($"{snippet} has no entry point.");
            var console = Console.Out;
            using var output = new StringWriter(CultureInfo.InvariantCulture);
            Console.SetOut(output);
            try
            {
                await Task.Run(() => entryPoint.Invoke(null, [Array.Empty<string>()]), cancellationToken)
                    .WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                Console.SetOut(console);
            }

            return output.ToString();
        }
        finally
        {
            context.Unload();
        }
    }

    private static IReadOnlyList<string> Compile(MarkdownSnippet snippet, out byte[] image)
    {
        var program = CSharpSyntaxTree.ParseText(GenerateSource(snippet), ParseOptions, "Program.cs", Encoding.UTF8);
        var compilation = CSharpCompilation.Create(
            "Snippet",
            [program, .. SharedTrees.Value],
            References.Value,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));

        CSharpGeneratorDriver.Create(Generators.Value, parseOptions: ParseOptions)
            .RunGeneratorsAndUpdateCompilation(compilation, out var generated, out var generatorDiagnostics);

        using var peStream = new MemoryStream();
        var emit = generated.Emit(peStream);
        image = peStream.ToArray();
        return generatorDiagnostics.Concat(emit.Diagnostics)
            .Where(d => d.Severity == DiagnosticSeverity.Error)
            .Select(Format)
            .Distinct()
            .ToList();
    }

    private static string Format(Diagnostic diagnostic)
    {
        var span = diagnostic.Location.GetMappedLineSpan();
        var where = span.IsValid
            ? $"{span.Path}({span.StartLinePosition.Line + 1},{span.StartLinePosition.Character + 1})"
            : "(no location)";
        return $"{where}: error {diagnostic.Id}: {diagnostic.GetMessage(CultureInfo.InvariantCulture)}";
    }

    private static string ReadContext()
    {
        using var stream = typeof(SnippetCompiler).Assembly.GetManifestResourceStream("SnippetContext.cs")
            ?? throw new InvalidOperationException("SnippetContext.cs is not embedded in the test assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        // The framework and the packages this test project references, as a console app that references them sees
        // them; the test framework and the compiler itself are left out.
        var excluded = new[] { "xunit", "FluentAssertions", "Microsoft.CodeAnalysis", "Microsoft.Testing", "Microsoft.TestPlatform", "coverlet", "AsyncPatterns.DocsTests" };
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        return [.. paths
            .Where(p => p.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            .Where(p => !excluded.Any(e => Path.GetFileName(p).StartsWith(e, StringComparison.OrdinalIgnoreCase)))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))];
    }

    private static ImmutableArray<ISourceGenerator> LoadGenerators()
    {
        // The System.Text.Json source generator ships in the targeting pack next to the runtime this test runs on.
        var runtimeDirectory = RuntimeEnvironment.GetRuntimeDirectory(); // <dotnet>/shared/Microsoft.NETCore.App/<version>/
        var dotnetRoot = Path.GetFullPath(Path.Combine(runtimeDirectory, "..", "..", ".."));
        var packs = Path.Combine(dotnetRoot, "packs", "Microsoft.NETCore.App.Ref");
        var version = new DirectoryInfo(runtimeDirectory.TrimEnd(Path.DirectorySeparatorChar)).Name;
        var packDirectory = Directory.Exists(Path.Combine(packs, version))
            ? Path.Combine(packs, version)
            : Directory.GetDirectories(packs).Where(d => Path.GetFileName(d).StartsWith($"{Environment.Version.Major}.", StringComparison.Ordinal)).Max()
              ?? throw new InvalidOperationException($"No Microsoft.NETCore.App.Ref {Environment.Version.Major}.x targeting pack under {packs}.");
        var generator = Path.Combine(packDirectory, "analyzers", "dotnet", "cs", "System.Text.Json.SourceGeneration.dll");
        var reference = new AnalyzerFileReference(generator, new GeneratorLoader());
        return reference.GetGenerators(LanguageNames.CSharp);
    }

    private sealed class GeneratorLoader : IAnalyzerAssemblyLoader
    {
        public void AddDependencyLocation(string fullPath)
        {
        }

        public Assembly LoadFromPath(string fullPath) => Assembly.LoadFrom(fullPath);
    }
}
