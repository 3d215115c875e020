using System.IO.Compression;
using System.Reflection;
using System.Xml.Linq;
using AsyncPatterns;

// Runs against the packed AsyncPatterns package, restored from artifacts/packages like any application would.
// Usage: dotnet run -- <path of AsyncPatterns.<version>.nupkg>
// Each check prints one line; the process exits non-zero when any fails.
var version = Environment.GetEnvironmentVariable("ASYNCPATTERNS_VERSION") ?? "0.1.0";
var packagePath = args.Length > 0 ? args[0] : Path.Combine("artifacts", "packages", $"AsyncPatterns.{version}.nupkg");
var assembly = typeof(AsyncPatternsException).Assembly;

var checks = new List<(string Name, Func<Task<bool>> Check)>
{
    ("the assembly loaded is the packed version", () => Task.FromResult(
        assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.StartsWith(version, StringComparison.Ordinal) == true)),
    ("the package holds the net10.0 assembly, its XML docs and the README", () => Task.FromResult(PackageHas(
        "lib/net10.0/AsyncPatterns.dll", "lib/net10.0/AsyncPatterns.xml", "package-readme.md"))),
    ("the nuspec declares the MIT license expression and the README", () => Task.FromResult(NuspecDeclaresLicenseAndReadme())),
    ("the symbols package sits beside the package", () => Task.FromResult(File.Exists(Path.ChangeExtension(packagePath, ".snupkg")))),
    ("the exception base type is usable", () => Task.FromResult(
        new AsyncPatternsException("x", new InvalidOperationException()).InnerException is InvalidOperationException)),
};

var failed = 0;
foreach (var (name, check) in checks)
{
    bool ok;
    try
    {
        ok = await check();
    }
    catch (Exception ex)
    {
        Console.WriteLine($"  error: {ex}");
        ok = false;
    }

    Console.WriteLine($"{(ok ? "ok  " : "FAIL")} {name}");
    failed += ok ? 0 : 1;
}

Console.WriteLine($"package test: {checks.Count - failed} passed, {failed} failed");
return failed == 0 ? 0 : 1;

bool PackageHas(params string[] entries)
{
    using var zip = ZipFile.OpenRead(packagePath);
    var names = zip.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);
    var missing = entries.Where(e => !names.Contains(e)).ToList();
    missing.ForEach(m => Console.WriteLine($"  missing from the package: {m}"));
    return missing.Count == 0;
}

bool NuspecDeclaresLicenseAndReadme()
{
    using var zip = ZipFile.OpenRead(packagePath);
    using var stream = zip.GetEntry("AsyncPatterns.nuspec")!.Open();
    var metadata = XDocument.Load(stream).Root!.Elements().First(e => e.Name.LocalName == "metadata");
    var license = metadata.Elements().FirstOrDefault(e => e.Name.LocalName == "license");
    var readme = metadata.Elements().FirstOrDefault(e => e.Name.LocalName == "readme");
    return license is not null && (string?)license.Attribute("type") == "expression" && license.Value == "MIT"
        && readme?.Value == "package-readme.md";
}
