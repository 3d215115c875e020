using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using AsyncPatterns.Http;
using AsyncPatterns.TestSupport;

namespace AsyncPatterns.Benchmarks;

/// <summary>
/// What a user pays per request, measured in the client process only, against a server in another process:
/// CPU time (user + system), allocated bytes, thread-pool work items and requests per second.
/// </summary>
/// <remarks>
/// <para><c>fetch-cost run</c> measures one variant in this process and prints one tab-separated line per round kind
/// (<c>cold</c>: the first, JIT-cold round; <c>warm</c>: the measured rounds after the warm-up).</para>
/// <para><c>fetch-cost report</c> reads such lines (from several processes per variant) and prints the medians per
/// variant and the ratios of each library variant to the baseline at the same concurrency.</para>
/// <para>tests/AsyncPatterns.Benchmarks/fetch-cost.sh starts the server and alternates the processes.</para>
/// </remarks>
internal static class FetchCost
{
    private const string Baseline = "parallel";

    public static async Task<int> MainAsync(string[] args)
    {
        if (args.Length >= 2 && args[1] == "run")
        {
            return await RunAsync(Options.Parse(args.AsSpan(2))).ConfigureAwait(false);
        }

        if (args.Length >= 3 && args[1] == "report")
        {
            Report(File.ReadAllLines(args[2]));
            return 0;
        }

        Console.Error.WriteLine("""
            usage:
              fetch-cost run --variant parallel|fetch-all|fetch-stream --concurrency N --base URL
                             [--requests 2000] [--warmup 3] [--rounds 10] [--items 100]
              fetch-cost report FILE
            """);
        return 2;
    }

    private static async Task<int> RunAsync(Options options)
    {
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = options.Concurrency };
        using var client = new HttpClient(handler);
        Uri[] uris = [.. Enumerable.Range(0, options.Requests)
            .Select(i => new Uri(options.Base, $"items/{(i % options.Items) + 1}"))];
        var fetcher = new ConcurrentHttpFetcher(client, new FetchOptions { MaxConcurrency = options.Concurrency });

        Func<Task<int>> round = options.Variant switch
        {
            Baseline => () => ParallelForEachAsync(client, uris, options.Concurrency),
            "fetch-all" => () => FetchAllAsync(fetcher, uris),
            "fetch-stream" => () => FetchStreamAsync(fetcher, uris),
            _ => throw new ArgumentException($"Unknown variant '{options.Variant}'.", nameof(options)),
        };

        Sample cold = await MeasureAsync(round, 1, options.Requests).ConfigureAwait(false);
        for (int i = 1; i < options.Warmup; i++)
        {
            await round().ConfigureAwait(false);
        }

        Sample warm = await MeasureAsync(round, options.Rounds, options.Requests).ConfigureAwait(false);
        Console.WriteLine(cold.Format("cold", options));
        Console.WriteLine(warm.Format("warm", options));
        return 0;
    }

    private static async Task<int> ParallelForEachAsync(HttpClient client, Uri[] uris, int concurrency)
    {
        var results = new ServerItem?[uris.Length];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, uris.Length),
            new ParallelOptions { MaxDegreeOfParallelism = concurrency },
            async (i, ct) => results[i] = await client.GetFromJsonAsync(uris[i], BenchmarkJson.Default.ServerItem, ct))
            .ConfigureAwait(false);
        return Check(results.Count(r => r is not null), uris.Length);
    }

    private static async Task<int> FetchAllAsync(ConcurrentHttpFetcher fetcher, Uri[] uris)
    {
        IReadOnlyList<FetchResult<ServerItem>> results =
            await fetcher.FetchAllAsync(uris, BenchmarkJson.Default.ServerItem).ConfigureAwait(false);
        return Check(results.Count(r => r.IsSuccess), uris.Length);
    }

    private static async Task<int> FetchStreamAsync(ConcurrentHttpFetcher fetcher, Uri[] uris)
    {
        int ok = 0;
        await foreach (FetchResult<ServerItem> result in fetcher.FetchAsync(uris, BenchmarkJson.Default.ServerItem).ConfigureAwait(false))
        {
            ok += result.IsSuccess ? 1 : 0;
        }

        return Check(ok, uris.Length);
    }

    private static int Check(int succeeded, int expected) =>
        succeeded == expected
            ? succeeded
            : throw new InvalidOperationException($"{expected - succeeded} of {expected} requests failed: is the server up?");

    private static async Task<Sample> MeasureAsync(Func<Task<int>> round, int rounds, int requestsPerRound)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using Process self = Process.GetCurrentProcess();
        self.Refresh();
        TimeSpan user0 = self.UserProcessorTime, system0 = self.PrivilegedProcessorTime;
        long bytes0 = GC.GetTotalAllocatedBytes(precise: true);
        long items0 = ThreadPool.CompletedWorkItemCount;
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < rounds; i++)
        {
            await round().ConfigureAwait(false);
        }

        TimeSpan wall = Stopwatch.GetElapsedTime(start);
        long items = ThreadPool.CompletedWorkItemCount - items0;
        long bytes = GC.GetTotalAllocatedBytes(precise: true) - bytes0;
        self.Refresh();
        double n = (double)rounds * requestsPerRound;
        return new Sample(
            UserMicroseconds: (self.UserProcessorTime - user0).TotalMicroseconds / n,
            SystemMicroseconds: (self.PrivilegedProcessorTime - system0).TotalMicroseconds / n,
            BytesPerRequest: bytes / n,
            WorkItemsPerRequest: items / n,
            RequestsPerSecond: n / wall.TotalSeconds);
    }

    private static void Report(string[] lines)
    {
        var samples = lines
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split('\t'))
            .Select(f => (Kind: f[0], Variant: f[1], Concurrency: int.Parse(f[2], CultureInfo.InvariantCulture),
                Sample: new Sample(D(f[3]), D(f[4]), D(f[5]), D(f[6]), D(f[7]))))
            .ToList();

        foreach (string kind in new[] { "warm", "cold" })
        {
            var groups = samples.Where(s => s.Kind == kind)
                .GroupBy(s => (s.Concurrency, s.Variant))
                .OrderBy(g => g.Key.Concurrency).ThenBy(g => g.Key.Variant == Baseline ? 0 : 1).ThenBy(g => g.Key.Variant)
                .Select(g => (g.Key.Concurrency, g.Key.Variant, Processes: g.Count(), Median: Sample.Median(g.Select(s => s.Sample))))
                .ToList();
            if (groups.Count == 0)
            {
                continue;
            }

            var text = new StringBuilder();
            text.AppendLine(CultureInfo.InvariantCulture, $"{kind} rounds (medians over processes)");
            text.AppendLine();
            text.AppendLine("| variant | concurrency | processes | CPU µs/request (user+sys) | of which sys | allocated B/request | thread-pool work items/request | requests/s | CPU ratio | bytes ratio | requests/s ratio |");
            text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var g in groups)
            {
                Sample? baseline = groups.Where(b => b.Concurrency == g.Concurrency && b.Variant == Baseline)
                    .Select(b => (Sample?)b.Median).FirstOrDefault();
                string ratios = baseline is { } b0
                    ? string.Create(CultureInfo.InvariantCulture,
                        $"{g.Median.CpuMicroseconds / b0.CpuMicroseconds:F2} | {g.Median.BytesPerRequest / b0.BytesPerRequest:F2} | {g.Median.RequestsPerSecond / b0.RequestsPerSecond:F2}")
                    : "- | - | -";
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {g.Variant} | {g.Concurrency} | {g.Processes} | {g.Median.CpuMicroseconds:F1} | {g.Median.SystemMicroseconds:F1} | {g.Median.BytesPerRequest:F0} | {g.Median.WorkItemsPerRequest:F2} | {g.Median.RequestsPerSecond:F0} | {ratios} |");
            }

            Console.WriteLine(text.ToString());
        }

        static double D(string s) => double.Parse(s, CultureInfo.InvariantCulture);
    }

    private readonly record struct Sample(
        double UserMicroseconds, double SystemMicroseconds, double BytesPerRequest, double WorkItemsPerRequest, double RequestsPerSecond)
    {
        public double CpuMicroseconds => UserMicroseconds + SystemMicroseconds;

        public string Format(string kind, Options options) => string.Create(CultureInfo.InvariantCulture,
            $"{kind}\t{options.Variant}\t{options.Concurrency}\t{UserMicroseconds:F3}\t{SystemMicroseconds:F3}\t{BytesPerRequest:F1}\t{WorkItemsPerRequest:F4}\t{RequestsPerSecond:F1}");

        public static Sample Median(IEnumerable<Sample> samples)
        {
            Sample[] all = [.. samples];
            return new Sample(
                M(all.Select(s => s.UserMicroseconds)), M(all.Select(s => s.SystemMicroseconds)),
                M(all.Select(s => s.BytesPerRequest)), M(all.Select(s => s.WorkItemsPerRequest)),
                M(all.Select(s => s.RequestsPerSecond)));

            static double M(IEnumerable<double> values)
            {
                double[] sorted = [.. values.Order()];
                int mid = sorted.Length / 2;
                return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
            }
        }
    }

    private sealed record Options(string Variant, int Concurrency, Uri Base, int Requests, int Warmup, int Rounds, int Items)
    {
        public static Options Parse(ReadOnlySpan<string> args)
        {
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            for (int i = 0; i + 1 < args.Length; i += 2)
            {
                values[args[i].TrimStart('-')] = args[i + 1];
            }

            int Int(string name, int fallback) =>
                values.TryGetValue(name, out string? v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

            string baseUrl = values.TryGetValue("base", out string? b) ? b : throw new ArgumentException("--base URL is required.", nameof(args));
            return new Options(
                values.TryGetValue("variant", out string? variant) ? variant : Baseline,
                Int("concurrency", 16),
                new Uri(baseUrl.EndsWith('/') ? baseUrl : baseUrl + "/"),
                Int("requests", 2_000),
                Int("warmup", 3),
                Int("rounds", 10),
                Int("items", 100));
        }
    }
}
