using AsyncPatterns.Connections.Internal;

namespace AsyncPatterns.Connections;

/// <summary>
/// A lease on a pooled connection, returned by <see cref="AsyncConnectionPool{TConnection}.AcquireAsync"/>. Dispose it
/// (<c>await using var lease = await pool.AcquireAsync(ct);</c>) to give the connection back; disposing twice is a
/// no-op, and using a lease after it was disposed throws <see cref="ObjectDisposedException"/>. The lease is a small
/// struct, so acquiring and returning allocates nothing; copies of it share the same lease.
/// </summary>
/// <typeparam name="TConnection">The type of the pooled connection.</typeparam>
public readonly struct PooledConnection<TConnection> : IAsyncDisposable, IEquatable<PooledConnection<TConnection>>
{
    private readonly ConnectionPoolCore<TConnection>? _pool;
    private readonly PoolEntry<TConnection>? _entry;
    private readonly int _version;

    internal PooledConnection(ConnectionPoolCore<TConnection> pool, PoolEntry<TConnection> entry, int version)
    {
        _pool = pool;
        _entry = entry;
        _version = version;
    }

    /// <summary>Gets the leased connection.</summary>
    /// <exception cref="ObjectDisposedException">The lease was returned (or the pool was disposed and its drain timeout passed).</exception>
    public TConnection Connection
    {
        get
        {
            var entry = _entry;
            if (entry is null || Volatile.Read(ref entry.Version) != _version)
            {
                ThrowReturned();
            }

            return entry.Connection;
        }
    }

    /// <summary>Gets a value indicating whether the lease still holds its connection (it was neither returned nor reclaimed).</summary>
    public bool IsActive => _entry is not null && Volatile.Read(ref _entry.Version) == _version;

    /// <summary>
    /// Marks the connection as broken: when the lease is disposed, the connection is destroyed instead of returned,
    /// and its slot is freed for a new one. Call it when the connection failed in a way that leaves it unusable.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The lease was already returned.</exception>
    public void Invalidate()
    {
        if (_pool is null || !_pool.Invalidate(_entry!, _version))
        {
            ThrowReturned();
        }
    }

    /// <summary>Returns the connection to the pool (or destroys it if it was invalidated, expired or cleared). A second call does nothing.</summary>
    /// <returns>A task that completes when the connection is back in the pool or destroyed.</returns>
    public ValueTask DisposeAsync() => _pool is null ? default : _pool.ReturnAsync(_entry!, _version);

    /// <inheritdoc />
    public bool Equals(PooledConnection<TConnection> other) => ReferenceEquals(_entry, other._entry) && _version == other._version;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is PooledConnection<TConnection> other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(_entry, _version);

    /// <summary>Compares two leases: equal when they are copies of the same lease.</summary>
    /// <param name="left">The first lease.</param>
    /// <param name="right">The second lease.</param>
    /// <returns><see langword="true"/> when both are the same lease.</returns>
    public static bool operator ==(PooledConnection<TConnection> left, PooledConnection<TConnection> right) => left.Equals(right);

    /// <summary>Compares two leases: different unless they are copies of the same lease.</summary>
    /// <param name="left">The first lease.</param>
    /// <param name="right">The second lease.</param>
    /// <returns><see langword="true"/> when they are different leases.</returns>
    public static bool operator !=(PooledConnection<TConnection> left, PooledConnection<TConnection> right) => !left.Equals(right);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowReturned() =>
        throw new ObjectDisposedException(nameof(PooledConnection<TConnection>), "The lease was returned to the pool; acquire a new one.");
}
