using System.Globalization;
using AsyncPatterns.BackgroundTasks;
using AsyncPatterns.Samples.DemoApi;

namespace AsyncPatterns.Samples.Showcase;

/// <summary>The rows of the summary table printed at the end.</summary>
internal static class Summary
{
    public static IReadOnlyList<SummaryRow> Rows(
        JobStats stats, TimeSpan elapsed, int rowsInDatabase, bool verified, ItemStore store, DemoApiServer? api, ShutdownReport? background)
    {
        var rows = new List<SummaryRow>
        {
            new("Items listed", Invariant($"{stats.Listed} in {stats.Pages} pages")),
            new("Items saved", Invariant($"{stats.Saved}")),
            new("SQLite rows", Invariant($"{rowsInDatabase} ({(verified ? "verified: each saved item once" : "MISMATCH")})")),
            new("Items failed", Invariant($"{stats.Failed}")),
        };
        rows.AddRange(stats.FailuresByKind.Select(kind => new SummaryRow(kind.Key, Invariant($"{kind.Value}"), Indent: 1)));
        rows.Add(new("Retries", Invariant($"{stats.Retries}")));
        rows.AddRange(stats.RetriesByKind.Select(kind => new SummaryRow(kind.Key, Invariant($"{kind.Value}"), Indent: 1)));
        rows.Add(new("HTTP requests", Invariant($"{stats.Requests}")));
        rows.Add(new("Requests per second", Invariant($"{(elapsed > TimeSpan.Zero ? stats.Requests / elapsed.TotalSeconds : 0):F1}")));
        if (api is not null)
        {
            rows.Add(new("Peak in flight at the server", Invariant($"{api.PeakInFlight}")));
        }

        var pool = store.PoolStatistics;
        rows.Add(new("SQLite connections opened", Invariant($"{pool.TotalCreated} (pool timeouts: {pool.Timeouts})")));
        if (background is not null)
        {
            rows.Add(new("Background tasks", background.IsClean ? $"shut down cleanly ({background.Cancelled} cancelled)" : background.ToString()));
        }

        rows.Add(new("Elapsed", Invariant($"{elapsed.TotalSeconds:F1} s")));
        return rows;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
