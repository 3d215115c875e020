using System.Globalization;

namespace AsyncPatterns.Samples.Showcase;

/// <summary>The command line of the showcase, parsed and checked.</summary>
internal sealed record ShowcaseOptions
{
    public const string Usage = """
        usage: Showcase [--items N] [--concurrency N] [--rate R] [--failure-rate P] [--latency MS]
                        [--timeout MS] [--retries N] [--base-url URL] [--keep-db]
          --items N         items to fetch and save (default 500)
          --concurrency N   items processed at once, and requests in flight at most (default 8)
          --rate R          requests started per second at most, retries included (default 100)
          --failure-rate P  share of detail requests the demo API fails with 500 (default 0.05)
          --latency MS      the demo API's delay before each response (default 20)
          --timeout MS      timeout of one request attempt (default 1000)
          --retries N       retries of a failed request after the first attempt (default 2)
          --base-url URL    use a demo API that is already running (e.g. http://127.0.0.1:5080/)
                            instead of starting one; --failure-rate and --latency are then its own
          --keep-db         keep the SQLite file (it is deleted at the end otherwise)
        """;

    public int Items { get; init; } = 500;

    public int Concurrency { get; init; } = 8;

    public double Rate { get; init; } = 100;

    public double FailureRate { get; init; } = 0.05;

    public TimeSpan Latency { get; init; } = TimeSpan.FromMilliseconds(20);

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(1);

    public int Retries { get; init; } = 2;

    public Uri? BaseUrl { get; init; }

    public bool KeepDatabase { get; init; }

    /// <summary>Parses <paramref name="args"/>; throws <see cref="ArgumentException"/> with a message for the user.</summary>
    public static ShowcaseOptions Parse(string[] args)
    {
        var options = new ShowcaseOptions();

        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value.");
            options = name switch
            {
                "--items" => options with { Items = ParseInt(name, Value(), min: 1) },
                "--concurrency" => options with { Concurrency = ParseInt(name, Value(), min: 1) },
                "--rate" => options with { Rate = ParseDouble(name, Value(), min: 0.1, max: 1_000_000) },
                "--failure-rate" => options with { FailureRate = ParseDouble(name, Value(), min: 0, max: 1) },
                "--latency" => options with { Latency = TimeSpan.FromMilliseconds(ParseInt(name, Value(), min: 0)) },
                "--timeout" => options with { Timeout = TimeSpan.FromMilliseconds(ParseInt(name, Value(), min: 1)) },
                "--retries" => options with { Retries = ParseInt(name, Value(), min: 0) },
                "--base-url" => options with { BaseUrl = ParseUrl(name, Value()) },
                "--keep-db" => options with { KeepDatabase = true },
                _ => throw new ArgumentException($"Unknown option {name}."),
            };
        }

        return options;
    }

    private static int ParseInt(string name, string text, int min) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min
            ? value
            : throw new ArgumentException($"{name} must be a whole number of at least {min}, not '{text}'.");

    private static double ParseDouble(string name, string text, double min, double max) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new ArgumentException($"{name} must be a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}, not '{text}'.");

    private static Uri ParseUrl(string name, string text) =>
        Uri.TryCreate(text.EndsWith('/') ? text : text + "/", UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw new ArgumentException($"{name} must be an absolute http(s) URL, not '{text}'.");
}
