using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Reflection;

namespace AsyncPatterns.Internal;

/// <summary>
/// The one <see cref="Meter"/> and <see cref="ActivitySource"/> of the library, both named <c>AsyncPatterns</c>,
/// so OpenTelemetry picks every instrument up with <c>AddMeter("AsyncPatterns")</c> and <c>AddSource("AsyncPatterns")</c>.
/// Instruments are named <c>asyncpatterns.&lt;area&gt;.&lt;thing&gt;</c>.
/// </summary>
internal static class Telemetry
{
    public const string Name = "AsyncPatterns";

    private static readonly string? s_version =
        typeof(Telemetry).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;

    public static readonly Meter Meter = new(Name, s_version);

    public static readonly ActivitySource ActivitySource = new(Name, s_version);
}
