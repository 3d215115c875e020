using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using AsyncPatterns.Internal;

namespace AsyncPatterns.Connections.Internal;

/// <summary>What the observable connection-pool instruments read from a live pool.</summary>
internal interface IConnectionPoolMetricsSource
{
    KeyValuePair<string, object?> PoolNameTag { get; }

    int MaxSize { get; }

    (int Idle, int Used, int Pending) Snapshot();
}

/// <summary>
/// The connection-pool instruments, named as OpenTelemetry's database client semantic conventions name them
/// (<c>db.client.connection.*</c>), on the library's one <see cref="Telemetry.Meter"/>. Live pools register
/// themselves so the observable instruments can report every pool, tagged with <c>db.client.connection.pool.name</c>.
/// </summary>
internal static class ConnectionPoolMetrics
{
    public const string PoolNameAttribute = "db.client.connection.pool.name";
    public const string StateAttribute = "db.client.connection.state";

    private static readonly ConcurrentDictionary<IConnectionPoolMetricsSource, byte> s_pools = new();

    public static readonly Histogram<double> WaitTime = Telemetry.Meter.CreateHistogram<double>(
        "db.client.connection.wait_time", "s", "The time it took to obtain an open connection from the pool.");

    public static readonly Histogram<double> UseTime = Telemetry.Meter.CreateHistogram<double>(
        "db.client.connection.use_time", "s", "The time between borrowing a connection and returning it to the pool.");

    public static readonly Histogram<double> CreateTime = Telemetry.Meter.CreateHistogram<double>(
        "db.client.connection.create_time", "s", "The time it took to create a new connection.");

    public static readonly Counter<long> Timeouts = Telemetry.Meter.CreateCounter<long>(
        "db.client.connection.timeouts", "{timeout}", "The number of connection timeouts that have occurred trying to obtain a connection from the pool.");

    private static readonly ObservableUpDownCounter<long> s_count = Telemetry.Meter.CreateObservableUpDownCounter(
        "db.client.connection.count", ObserveCount, "{connection}", "The number of connections that are currently in the state described by the state attribute.");

    private static readonly ObservableUpDownCounter<long> s_max = Telemetry.Meter.CreateObservableUpDownCounter(
        "db.client.connection.max", ObserveMax, "{connection}", "The maximum number of open connections allowed.");

    private static readonly ObservableUpDownCounter<long> s_pending = Telemetry.Meter.CreateObservableUpDownCounter(
        "db.client.connection.pending_requests", ObservePending, "{request}", "The number of current pending requests for an open connection.");

    public static void Register(IConnectionPoolMetricsSource pool)
    {
        // Touch the observable instruments so they exist as soon as the first pool does.
        _ = s_count.Enabled || s_max.Enabled || s_pending.Enabled;
        s_pools.TryAdd(pool, 0);
    }

    public static void Unregister(IConnectionPoolMetricsSource pool) => s_pools.TryRemove(pool, out _);

    private static IEnumerable<Measurement<long>> ObserveCount()
    {
        foreach (var pool in s_pools.Keys)
        {
            var (idle, used, _) = pool.Snapshot();
            yield return new Measurement<long>(idle, pool.PoolNameTag, new KeyValuePair<string, object?>(StateAttribute, "idle"));
            yield return new Measurement<long>(used, pool.PoolNameTag, new KeyValuePair<string, object?>(StateAttribute, "used"));
        }
    }

    private static IEnumerable<Measurement<long>> ObserveMax()
    {
        foreach (var pool in s_pools.Keys)
        {
            yield return new Measurement<long>(pool.MaxSize, pool.PoolNameTag);
        }
    }

    private static IEnumerable<Measurement<long>> ObservePending()
    {
        foreach (var pool in s_pools.Keys)
        {
            yield return new Measurement<long>(pool.Snapshot().Pending, pool.PoolNameTag);
        }
    }
}
