using AsyncPatterns.Connections.Internal;

namespace AsyncPatterns.Connections;

/// <summary>
/// An asynchronous pool of expensive connections (database, message broker, custom protocol): it creates them on
/// demand up to <see cref="ConnectionPoolOptions{TConnection}.MaxSize"/>, serves waiting callers strictly first come
/// first served, never hands out an expired connection, one that fails its cheap
/// <see cref="ConnectionPoolOptions{TConnection}.IsUsable"/> check or (when validation is configured) a dead one, retires idle ones
/// down to <see cref="ConnectionPoolOptions{TConnection}.MinSize"/>, and shuts down without hanging.
/// Every member is safe to call concurrently.
/// </summary>
/// <typeparam name="TConnection">The type of the pooled connection.</typeparam>
/// <example>
/// <code>
/// await using var pool = new AsyncConnectionPool&lt;MyConnection&gt;(new ConnectionPoolOptions&lt;MyConnection&gt;
/// {
///     CreateAsync = ct => MyConnection.OpenAsync(ct),
///     MaxSize = 5,
/// });
/// await using var lease = await pool.AcquireAsync(ct);
/// await lease.Connection.SendAsync(message, ct);
/// </code>
/// </example>
public sealed class AsyncConnectionPool<TConnection> : IAsyncDisposable
{
    private readonly ConnectionPoolCore<TConnection> _core;

    /// <summary>Initializes a new pool; <see cref="ConnectionPoolOptions{TConnection}.MinSize"/> connections start being created in the background.</summary>
    /// <param name="options">The hooks and limits. They are validated and copied now.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">An option is missing or out of range; the message names each one
    /// (<c>ConnectionPoolOptions.MaxSize must be at least 1 (was 0).</c>).</exception>
    public AsyncConnectionPool(ConnectionPoolOptions<TConnection> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _core = new ConnectionPoolCore<TConnection>(options);
    }

    /// <summary>Initializes a new pool with default options, the given create hook and maximum size.</summary>
    /// <param name="createAsync">Creates and opens a connection.</param>
    /// <param name="maxSize">The most connections the pool holds at once.</param>
    /// <exception cref="ArgumentNullException"><paramref name="createAsync"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxSize"/> is less than 1.</exception>
    public AsyncConnectionPool(Func<CancellationToken, ValueTask<TConnection>> createAsync, int maxSize)
        : this(CreateOptions(createAsync, maxSize))
    {
    }

    /// <summary>Gets the pool's name (used in exceptions, logs and metrics).</summary>
    public string Name => _core.Name;

    /// <summary>Gets a snapshot of the pool's counters.</summary>
    public ConnectionPoolStatistics Statistics => _core.Statistics;

    /// <summary>
    /// Leases a connection: an idle one if any (validated first if it was idle long enough), otherwise a new one if
    /// the pool is below its maximum size, otherwise the next one returned, in the order callers asked. A new caller
    /// never takes a connection while others wait. Dispose the lease to return the connection.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait; a cancelled caller leaves the queue without consuming a connection.</param>
    /// <returns>The lease; it usually completes synchronously when a connection is idle.</returns>
    /// <exception cref="ConnectionPoolTimeoutException">No connection within <see cref="ConnectionPoolOptions{TConnection}.AcquireTimeout"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed, or was disposed while the caller waited.</exception>
    /// <remarks>
    /// An exception thrown by the create hook reaches the caller that needed the connection; its slot is freed for the
    /// next caller. A caller that has to wait reuses a pooled waiter, and every waiter's acquire timeout runs on one timer
    /// of the pool, so waiting allocates almost nothing. As with any <see cref="ValueTask{TResult}"/>, await the result
    /// once (or call <see cref="ValueTask{TResult}.AsTask"/> once): awaiting it again is not supported; it throws
    /// <see cref="InvalidOperationException"/>, or is undefined once the pool has reused what backs it.
    /// </remarks>
    public ValueTask<PooledConnection<TConnection>> AcquireAsync(CancellationToken cancellationToken = default) => _core.AcquireAsync(cancellationToken);

    /// <summary>
    /// Retires every current connection: idle ones are destroyed now, leased ones when they are returned. Connections
    /// created afterwards are unaffected. Use it after a failover or a credential rotation.
    /// </summary>
    public void Clear() => _core.Clear();

    /// <summary>
    /// Shuts the pool down: new acquires throw <see cref="ObjectDisposedException"/>, waiting callers fail with it,
    /// idle connections are destroyed, leased ones are destroyed when returned or, after
    /// <see cref="ConnectionPoolOptions{TConnection}.DrainTimeout"/>, without being returned (their leases then throw
    /// <see cref="ObjectDisposedException"/>). Completes within about twice the drain timeout even if hooks hang;
    /// calling it again returns the same completion.
    /// </summary>
    /// <returns>A task that completes when the pool is shut down.</returns>
    public ValueTask DisposeAsync() => _core.DisposeAsync();

    private static ConnectionPoolOptions<TConnection> CreateOptions(Func<CancellationToken, ValueTask<TConnection>> createAsync, int maxSize)
    {
        ArgumentNullException.ThrowIfNull(createAsync);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSize, 1);
        return new ConnectionPoolOptions<TConnection> { CreateAsync = createAsync, MaxSize = maxSize };
    }
}
