namespace AsyncPatterns.Connections.Internal;

/// <summary>The state of a pooled connection.</summary>
internal enum PoolEntryState
{
    Idle,
    Busy,
    Destroyed,
}

/// <summary>
/// One pooled connection and its bookkeeping. <see cref="Version"/> changes every time a lease ends, so a stale
/// <see cref="PooledConnection{TConnection}"/> is detected; <see cref="State"/> is guarded by the pool's lock.
/// </summary>
internal sealed class PoolEntry<TConnection>
{
    public readonly TConnection Connection;
    public readonly long CreatedAt;
    public readonly long ExpiresAt;
    public readonly int Generation;

    public int Version;
    public PoolEntryState State;
    public long LastReturnedAt;
    public long LeasedAt;
    public bool Invalidated;
    public bool LeakReported;
    public string? AcquiredAt;

    public PoolEntry(TConnection connection, long createdAt, long expiresAt, int generation)
    {
        Connection = connection;
        CreatedAt = createdAt;
        ExpiresAt = expiresAt;
        Generation = generation;
        LastReturnedAt = createdAt;
    }
}
