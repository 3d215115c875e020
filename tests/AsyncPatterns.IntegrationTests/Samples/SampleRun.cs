using System.Globalization;
using System.Text.RegularExpressions;
using FluentAssertions.Execution;

namespace AsyncPatterns.IntegrationTests.Samples;

/// <summary>What one run of a sample printed (standard output, line by line) and its exit code.</summary>
internal sealed record SampleRun(string Name, int ExitCode, IReadOnlyList<string> Lines, string Transcript)
{
    /// <summary>An assertion scope whose failure message ends with the sample's whole output.</summary>
    public AssertionScope Scope()
    {
        var scope = new AssertionScope(Name);
        scope.AddReportable("output of the sample", Transcript);
        return scope;
    }

    /// <summary>The lines of section <paramref name="number"/>: from its "N. ..." heading up to the next heading.</summary>
    public SampleRun Section(int number)
    {
        var start = Lines.ToList().FindIndex(line => line.StartsWith($"{number}. ", StringComparison.Ordinal));
        start.Should().BeGreaterThanOrEqualTo(0, $"{Name} prints a section {number}");
        var end = Lines.Skip(start + 1).ToList().FindIndex(line => Heading().IsMatch(line));
        var lines = Lines.Skip(start).Take(end < 0 ? int.MaxValue : end + 1).ToArray();
        return this with { Lines = lines };
    }

    /// <summary>The first line that matches <paramref name="pattern"/>; fails when none does.</summary>
    public Match Line(string pattern)
    {
        var matches = Matches(pattern);
        matches.Should().NotBeEmpty($"{Name} prints a line matching /{pattern}/");
        return matches[0];
    }

    /// <summary>Every line that matches <paramref name="pattern"/>, in order.</summary>
    public IReadOnlyList<Match> Matches(string pattern)
    {
        var regex = new Regex(pattern, RegexOptions.CultureInvariant);
        return [.. Lines.Select(line => regex.Match(line)).Where(match => match.Success)];
    }

    public static int Int(Match match, string group) => int.Parse(match.Groups[group].Value, NumberStyles.Integer, CultureInfo.InvariantCulture);

    public static double Double(Match match, string group) => double.Parse(match.Groups[group].Value, NumberStyles.Float, CultureInfo.InvariantCulture);

    private static Regex Heading() => new(@"^\d+\. ", RegexOptions.CultureInvariant);
}
