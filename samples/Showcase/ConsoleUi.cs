using System.Globalization;
using Spectre.Console;

namespace AsyncPatterns.Samples.Showcase;

/// <summary>A line of the progress display: the job's counters at one moment.</summary>
internal sealed record ProgressSnapshot(int Total, int Listed, int Done, int Saved, int Failed, int Retries, int Requests, TimeSpan Elapsed)
{
    public static ProgressSnapshot Of(JobStats stats, TimeSpan elapsed) =>
        new(stats.Total, stats.Listed, stats.Done, stats.Saved, stats.Failed, stats.Retries, stats.Requests, elapsed);

    public double RequestsPerSecond => Elapsed > TimeSpan.Zero ? Requests / Elapsed.TotalSeconds : 0;

    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"saved {Saved}, failed {Failed}, retries {Retries}, {RequestsPerSecond:F0} req/s");
}

/// <summary>A row of the summary table; <see cref="Indent"/> 1 for a breakdown under the row above.</summary>
internal sealed record SummaryRow(string Label, string Value, int Indent = 0);

/// <summary>
/// The console output: a live Spectre.Console progress bar and table on a terminal, plain lines without any control
/// sequence when the output is redirected (to a file, a pipe, a CI log).
/// </summary>
internal abstract class ConsoleUi
{
    public static ConsoleUi Create() => Console.IsOutputRedirected ? new PlainUi() : new LiveUi();

    /// <summary>How often the background reporter refreshes the progress.</summary>
    public abstract TimeSpan ProgressInterval { get; }

    public abstract void WriteLine(string text);

    public abstract void WriteError(string text);

    /// <summary>Runs <paramref name="job"/> while showing the progress it reports.</summary>
    public abstract Task<T> RunWithProgressAsync<T>(Func<IProgress<ProgressSnapshot>, Task<T>> job);

    public abstract void WriteSummary(string title, IReadOnlyList<SummaryRow> rows);

    private sealed class LiveUi : ConsoleUi
    {
        public override TimeSpan ProgressInterval => TimeSpan.FromMilliseconds(100);

        public override void WriteLine(string text) => AnsiConsole.WriteLine(text);

        public override void WriteError(string text) => AnsiConsole.MarkupLine($"[red]{Markup.Escape(text)}[/]");

        public override Task<T> RunWithProgressAsync<T>(Func<IProgress<ProgressSnapshot>, Task<T>> job) =>
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(
                    new SpinnerColumn(),
                    new ProgressBarColumn(),
                    new PercentageColumn(),
                    new ElapsedTimeColumn(),
                    new TaskDescriptionColumn { Alignment = Justify.Left })
                .StartAsync(async context =>
                {
                    var task = context.AddTask("listing items", maxValue: 1);
                    task.IsIndeterminate = true;
                    return await job(new LiveProgress(task));
                });

        public override void WriteSummary(string title, IReadOnlyList<SummaryRow> rows)
        {
            var table = new Table().Border(TableBorder.Rounded).Title(title).AddColumn("").AddColumn(new TableColumn("").RightAligned()).HideHeaders();
            foreach (var row in rows)
            {
                var label = row.Indent == 0 ? $"[bold]{Markup.Escape(row.Label)}[/]" : $"[grey]{new string(' ', 2 * row.Indent)}{Markup.Escape(row.Label)}[/]";
                table.AddRow(label, Markup.Escape(row.Value));
            }

            AnsiConsole.Write(table);
        }

        private sealed class LiveProgress(ProgressTask task) : IProgress<ProgressSnapshot>
        {
            public void Report(ProgressSnapshot value)
            {
                var total = value.Total > 0 ? value.Total : Math.Max(value.Listed, 1);
                task.IsIndeterminate = value.Total == 0;
                task.MaxValue = total;
                task.Value = Math.Min(value.Done, total);
                task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"{value.Done}/{total} items: {value}"));
            }
        }
    }

    private sealed class PlainUi : ConsoleUi
    {
        public override TimeSpan ProgressInterval => TimeSpan.FromSeconds(1);

        public override void WriteLine(string text) => Console.WriteLine(text);

        public override void WriteError(string text) => Console.Error.WriteLine(text);

        public override Task<T> RunWithProgressAsync<T>(Func<IProgress<ProgressSnapshot>, Task<T>> job) => job(new PlainProgress());

        public override void WriteSummary(string title, IReadOnlyList<SummaryRow> rows)
        {
            var labelWidth = rows.Max(row => 2 * row.Indent + row.Label.Length);
            var valueWidth = rows.Max(row => row.Value.Length);
            Console.WriteLine();
            Console.WriteLine(title);
            Console.WriteLine(new string('-', labelWidth + valueWidth + 3));
            foreach (var row in rows)
            {
                Console.WriteLine($"{(new string(' ', 2 * row.Indent) + row.Label).PadRight(labelWidth)}   {row.Value.PadLeft(valueWidth)}");
            }

            Console.WriteLine(new string('-', labelWidth + valueWidth + 3));
        }

        private sealed class PlainProgress : IProgress<ProgressSnapshot>
        {
            public void Report(ProgressSnapshot value)
            {
                var total = value.Total > 0 ? value.Total.ToString(CultureInfo.InvariantCulture) : "?";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{value.Elapsed.TotalSeconds,5:F1} s] {value.Done}/{total} items: {value}"));
            }
        }
    }
}
