// Reads a Stryker mutation-report.json (mutation-testing-elements schema) and prints one summary line:
//   <Namespace>: score X% (killed K, survived S, timeout T, no coverage N)
// With --survivors it also lists every surviving / uncovered mutant as "file:line mutator: replacement".
// The score is Stryker's: (killed + timeout) / (killed + timeout + survived + no coverage).
// Usage: dotnet run mutation-report.cs -- <Namespace> <mutation-report.json> [--survivors]
using System.Globalization;
using System.Text.Json;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: mutation-report.cs <Namespace> <mutation-report.json> [--survivors]");
    return 2;
}

var name = args[0];
using var doc = JsonDocument.Parse(File.ReadAllText(args[1]));
var counts = new Dictionary<string, int>(StringComparer.Ordinal);
var survivors = new List<string>();
foreach (var file in doc.RootElement.GetProperty("files").EnumerateObject())
{
    var source = file.Value.GetProperty("source").GetString() ?? "";
    var sourceLines = source.Split('\n');
    foreach (var mutant in file.Value.GetProperty("mutants").EnumerateArray())
    {
        var status = mutant.GetProperty("status").GetString() ?? "Unknown";
        counts[status] = counts.GetValueOrDefault(status) + 1;
        if (status is "Survived" or "NoCoverage")
        {
            var line = mutant.GetProperty("location").GetProperty("start").GetProperty("line").GetInt32();
            var replacement = mutant.TryGetProperty("replacement", out var r) ? r.GetString() : null;
            var code = line - 1 < sourceLines.Length ? sourceLines[line - 1].Trim() : "";
            survivors.Add($"{status,-10} {Path.GetFileName(file.Name)}:{line} {mutant.GetProperty("mutatorName").GetString()}: {replacement?.ReplaceLineEndings(" ")}    | {code}");
        }
    }
}

int Count(string status) => counts.GetValueOrDefault(status);
var (killed, survived, timeout, noCoverage) = (Count("Killed"), Count("Survived"), Count("Timeout"), Count("NoCoverage"));
var valid = killed + survived + timeout + noCoverage;
var score = valid == 0 ? 100.0 : 100.0 * (killed + timeout) / valid;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"{name}: score {score:0.00}% (killed {killed}, survived {survived}, timeout {timeout}, no coverage {noCoverage})"));
if (args.Contains("--survivors"))
{
    foreach (var s in survivors.Order(StringComparer.Ordinal))
    {
        Console.WriteLine("  " + s);
    }
}

return 0;
