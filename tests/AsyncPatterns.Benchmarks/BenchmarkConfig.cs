using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Reports;

/// <summary>
/// The configuration every benchmark runs with: memory diagnoser (allocated bytes per operation), the ratio to the
/// baseline of the same class, and results under <c>BenchmarkDotNet.Artifacts/results</c>.
/// </summary>
internal static class BenchmarkConfig
{
    public static IConfig Default { get; } = DefaultConfig.Instance
        .AddDiagnoser(MemoryDiagnoser.Default)
        .AddColumn(BaselineRatioColumn.RatioMean, BaselineAllocationRatioColumn.RatioMean)
        .WithSummaryStyle(SummaryStyle.Default.WithRatioStyle(RatioStyle.Value))
        .WithOrderer(new BenchmarkDotNet.Order.DefaultOrderer(BenchmarkDotNet.Order.SummaryOrderPolicy.Declared));
}
