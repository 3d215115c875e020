namespace AsyncPatterns.Connections;

/// <summary>A snapshot of an <see cref="AsyncConnectionPool{TConnection}"/>'s counters, taken at one instant under the pool's lock.</summary>
public sealed class ConnectionPoolStatistics
{
    internal ConnectionPoolStatistics(int idle, int busy, int creating, int destroying, int waiting, long totalCreated, long totalDestroyed, long timeouts)
    {
        Idle = idle;
        Busy = busy;
        Creating = creating;
        Destroying = destroying;
        Waiting = waiting;
        TotalCreated = totalCreated;
        TotalDestroyed = totalDestroyed;
        Timeouts = timeouts;
    }

    /// <summary>Gets the number of open connections waiting in the pool.</summary>
    public int Idle { get; }

    /// <summary>Gets the number of connections leased to callers.</summary>
    public int Busy { get; }

    /// <summary>Gets the number of connections being created.</summary>
    public int Creating { get; }

    /// <summary>
    /// Gets the number of retired connections whose destroy hook is still running. Each still holds its slot:
    /// <c>Idle + Busy + Creating + Destroying</c> never exceeds <see cref="ConnectionPoolOptions{TConnection}.MaxSize"/>.
    /// </summary>
    public int Destroying { get; }

    /// <summary>Gets the number of callers waiting for a connection.</summary>
    public int Waiting { get; }

    /// <summary>Gets the number of connections created since the pool was built.</summary>
    public long TotalCreated { get; }

    /// <summary>Gets the number of connections retired since the pool was built (their destroy hook ran or is running, see <see cref="Destroying"/>).</summary>
    public long TotalDestroyed { get; }

    /// <summary>Gets the number of acquires that failed with <see cref="ConnectionPoolTimeoutException"/>.</summary>
    public long Timeouts { get; }

    /// <inheritdoc />
    public override string ToString() =>
        $"Idle={Idle} Busy={Busy} Creating={Creating} Destroying={Destroying} Waiting={Waiting} TotalCreated={TotalCreated} TotalDestroyed={TotalDestroyed} Timeouts={Timeouts}";
}
