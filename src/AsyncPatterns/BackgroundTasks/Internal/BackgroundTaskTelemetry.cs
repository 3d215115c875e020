using System.Diagnostics.Metrics;
using AsyncPatterns.Internal;

namespace AsyncPatterns.BackgroundTasks.Internal;

/// <summary>
/// The instruments of <c>AsyncPatterns.BackgroundTasks</c> on the library's one <see cref="Meter"/>. The tracker records
/// through the <c>Record*</c> methods, which are contained: a <see cref="MeterListener"/> callback that throws loses that
/// one measurement and nothing else.
/// </summary>
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

    public static void RecordStarted()
    {
        Contained(Started, 1);
        Contained(InFlight, 1);
    }

    public static void RecordEnded(TimeSpan elapsed)
    {
        Contained(InFlight, -1);
        try
        {
            Duration.Record(elapsed.TotalSeconds);
        }
        catch (Exception)
        {
            // A failing listener loses this measurement only (see the class remarks).
        }
    }

    public static void RecordFaulted() => Contained(Faulted, 1);

    public static void RecordAbandoned(int count) => Contained(Abandoned, count);

    private static void Contained(Counter<long> counter, long value)
    {
        try
        {
            counter.Add(value);
        }
        catch (Exception)
        {
            // A failing listener loses this measurement only (see the class remarks).
        }
    }

    private static void Contained(UpDownCounter<long> counter, long value)
    {
        try
        {
            counter.Add(value);
        }
        catch (Exception)
        {
            // A failing listener loses this measurement only (see the class remarks).
        }
    }
}
