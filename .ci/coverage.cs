// Merges cobertura reports (one per test project), prints line and branch coverage per namespace folder of
// src/AsyncPatterns, and fails when the total line coverage is below the gate.
// Usage: dotnet run coverage.cs -- <min-line-percent> <report.xml>...
using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml.Linq;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: coverage.cs <min-line-percent> <cobertura.xml>...");
    return 2;
}

var gate = double.Parse(args[0], CultureInfo.InvariantCulture);
// (file, line) -> (hits, covered conditions, total conditions), merged as the best of every report.
var lines = new Dictionary<(string File, int Line), (long Hits, int Covered, int Total)>();
foreach (var report in args[1..])
{
    var doc = XDocument.Load(report);
    var sources = doc.Descendants("source").Select(s => s.Value).ToList();
    foreach (var cls in doc.Descendants("class"))
    {
        var file = Normalize(sources, (string)cls.Attribute("filename")!);
        foreach (var line in cls.Element("lines")?.Elements("line") ?? [])
        {
            var key = (file, (int)line.Attribute("number")!);
            var hits = (long)line.Attribute("hits")!;
            var (covered, total) = (0, 0);
            var condition = (string?)line.Attribute("condition-coverage");
            if (condition is not null)
            {
                var m = Regex.Match(condition, @"\((\d+)/(\d+)\)");
                (covered, total) = (int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
            }

            lines[key] = lines.TryGetValue(key, out var seen)
                ? (Math.Max(seen.Hits, hits), Math.Max(seen.Covered, covered), Math.Max(seen.Total, total))
                : (hits, covered, total);
        }
    }
}

var rows = lines
    .Where(kv => kv.Key.File.Contains("src/AsyncPatterns/", StringComparison.Ordinal))
    .GroupBy(kv => Area(kv.Key.File))
    .OrderBy(g => g.Key, StringComparer.Ordinal)
    .Select(g => (Area: g.Key,
        Lines: g.Count(), LinesHit: g.Count(kv => kv.Value.Hits > 0),
        Branches: g.Sum(kv => kv.Value.Total), BranchesHit: g.Sum(kv => kv.Value.Covered)))
    .ToList();

Console.WriteLine($"{"namespace",-34} {"line",16} {"branch",16}");
foreach (var r in rows)
{
    Console.WriteLine($"{r.Area,-34} {Percent(r.LinesHit, r.Lines),16} {Percent(r.BranchesHit, r.Branches),16}");
}

var totalLines = rows.Sum(r => r.Lines);
var totalHit = rows.Sum(r => r.LinesHit);
var totalPercent = totalLines == 0 ? 0 : 100.0 * totalHit / totalLines;
Console.WriteLine($"{"total",-34} {Percent(totalHit, totalLines),16} {Percent(rows.Sum(r => r.BranchesHit), rows.Sum(r => r.Branches)),16}");
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"coverage: {totalPercent:F1}% line coverage of src/AsyncPatterns (gate {gate:F1}%)"));
return totalPercent + 1e-9 >= gate ? 0 : 1;

static string Normalize(List<string> sources, string file)
{
    var path = Path.IsPathRooted(file) || sources.Count == 0 ? file : Path.Combine(sources[0], file);
    return path.Replace('\\', '/');
}

static string Area(string file)
{
    var rest = file[(file.IndexOf("src/AsyncPatterns/", StringComparison.Ordinal) + "src/AsyncPatterns/".Length)..];
    var slash = rest.IndexOf('/', StringComparison.Ordinal);
    return slash < 0 ? "AsyncPatterns (root)" : "AsyncPatterns." + rest[..slash];
}

static string Percent(int hit, int total) =>
    total == 0 ? "-" : string.Create(CultureInfo.InvariantCulture, $"{100.0 * hit / total:F1}% ({hit}/{total})");
