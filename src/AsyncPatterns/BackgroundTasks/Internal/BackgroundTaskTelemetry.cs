using System.Diagnostics.Metrics;
using AsyncPatterns.Internal;

namespace AsyncPatterns.BackgroundTasks.Internal;

/// <summary>The instruments of <c>AsyncPatterns.BackgroundTasks</c> on the library's one <see cref="Meter"/>.</summary>
internal static class BackgroundTaskTelemetry
{
    public static readonly UpDownCounter<long> InFlight = Telemetry.Meter.CreateUpDownCounter<long>(
        "asyncpatterns.background_tasks.in_flight", "{task}", "Background tasks running now.");

    public static readonly Counter<long> Started = Telemetry.Meter.CreateCounter<long>(
        "asyncpatterns.background_tasks.started", "{task}", "Background tasks started.");

    public static readonly Counter<long> Faulted = Telemetry.Meter.CreateCounter<long>(
        "asyncpatterns.background_tasks.faulted", "{task}", "Background tasks that ended with an exception.");

    public static readonly Counter<long> Abandoned = Telemetry.Meter.CreateCounter<long>(
        "asyncpatterns.background_tasks.abandoned", "{task}", "Background tasks still running when a shutdown's grace period ended.");

    public static readonly Histogram<double> Duration = Telemetry.Meter.CreateHistogram<double>(
        "asyncpatterns.background_tasks.duration", "s", "How long background tasks ran.");
}
