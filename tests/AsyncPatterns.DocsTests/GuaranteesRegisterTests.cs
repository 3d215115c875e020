using System.Text.RegularExpressions;

namespace AsyncPatterns.DocsTests;

/// <summary>tests/GUARANTEES.md names tests that exist, and every promise in it has tests that pin and attack it.</summary>
public sealed partial class GuaranteesRegisterTests
{
    [Fact]
    public void Register_EveryPromise_HasATestThatPinsItAndOneThatAttacksIt()
    {
        var rows = PromiseRows();

        rows.Should().HaveCountGreaterThanOrEqualTo(40);
        foreach (var (id, pinned, attacked) in rows)
        {
            TestNameRegex().Matches(pinned).Should().NotBeEmpty("promise {0} lists the tests that pin it", id);
            TestNameRegex().Matches(attacked).Should().NotBeEmpty("promise {0} lists a test that attacks it", id);
        }

        rows.Select(r => r.Id).Should().OnlyHaveUniqueItems();
    }

    [Fact]
    public void Register_EveryTestItNames_Exists()
    {
        var existing = TestMethodsInSources();
        var cited = PromiseRows()
            .SelectMany(r => TestNameRegex().Matches(r.Pinned + " " + r.Attacked))
            .Select(m => m.Groups["name"].Value)
            .Distinct()
            .ToList();

        cited.Should().NotBeEmpty();
        cited.Where(name => !existing.Contains(name)).Should().BeEmpty(
            "every test tests/GUARANTEES.md names must exist as Namespace.Class.Method in tests/ (a renamed test is renamed there too)");
    }

    [Fact]
    public void TestMethodsInSources_FindsThisTest()
    {
        TestMethodsInSources().Should().Contain($"{typeof(GuaranteesRegisterTests).FullName}.{nameof(TestMethodsInSources_FindsThisTest)}");
    }

    private static List<(string Id, string Pinned, string Attacked)> PromiseRows()
    {
        var path = Path.Combine(RepositoryRoot(), "tests", "GUARANTEES.md");
        var rows = new List<(string, string, string)>();
        foreach (var line in File.ReadAllLines(path))
        {
            var cells = line.Split('|');
            // | id | promise | pinned by | attacked by |  ->  "", id, promise, pinned, attacked, ""
            if (cells.Length != 6 || cells[1].Trim() is "id" or "" || cells[1].Trim().StartsWith("---", StringComparison.Ordinal))
            {
                continue;
            }

            rows.Add((cells[1].Trim(), cells[3], cells[4]));
        }

        return rows;
    }

    /// <summary>Every [Fact]/[Theory] method under tests/, as Namespace.Class.Method (file-scoped namespaces).</summary>
    private static HashSet<string> TestMethodsInSources()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var tests = Path.Combine(RepositoryRoot(), "tests");
        foreach (var file in Directory.EnumerateFiles(tests, "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                || file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            {
                continue;
            }

            var source = File.ReadAllText(file);
            var ns = NamespaceRegex().Match(source);
            if (!ns.Success)
            {
                continue;
            }

            string? type = null;
            var attributed = false;
            foreach (var line in source.Split('\n'))
            {
                if (ClassRegex().Match(line) is { Success: true } c)
                {
                    type = c.Groups[1].Value;
                }

                if (TestAttributeRegex().IsMatch(line))
                {
                    attributed = true;
                }

                if (attributed && type is not null && MethodRegex().Match(line) is { Success: true } m)
                {
                    names.Add($"{ns.Groups[1].Value}.{type}.{m.Groups[1].Value}");
                    attributed = false;
                }
            }
        }

        return names;
    }

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

    [GeneratedRegex(@"`(?<name>AsyncPatterns\.[\w.]+)`")]
    private static partial Regex TestNameRegex();

    [GeneratedRegex(@"^namespace\s+([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex NamespaceRegex();

    [GeneratedRegex(@"^\s*(?:public|internal)\s+(?:(?:sealed|abstract|static)\s+)*(?:partial\s+)?class\s+(\w+)")]
    private static partial Regex ClassRegex();

    [GeneratedRegex(@"^\s*\[(?:Fact|Theory)\b")]
    private static partial Regex TestAttributeRegex();

    [GeneratedRegex(@"^\s*public\s+(?:async\s+)?(?:Task|void|ValueTask)\s+(\w+)\s*\(")]
    private static partial Regex MethodRegex();
}
