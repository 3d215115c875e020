namespace AsyncPatterns.Connections;

/// <summary>
/// Thrown by <see cref="AsyncConnectionPool{TConnection}.AcquireAsync"/> when no connection could be acquired within
/// <see cref="ConnectionPoolOptions{TConnection}.AcquireTimeout"/>. It derives from <see cref="TimeoutException"/>,
/// so code that already handles timeouts handles it; for that reason it cannot also derive from
/// <see cref="AsyncPatternsException"/>.
/// </summary>
public sealed class ConnectionPoolTimeoutException : TimeoutException
{
    /// <summary>Initializes a new instance of the <see cref="ConnectionPoolTimeoutException"/> class.</summary>
    public ConnectionPoolTimeoutException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ConnectionPoolTimeoutException"/> class with a message.</summary>
    /// <param name="message">The message that describes the error.</param>
    public ConnectionPoolTimeoutException(string? message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ConnectionPoolTimeoutException"/> class with a message and the exception that caused it.</summary>
    /// <param name="message">The message that describes the error.</param>
    /// <param name="innerException">The exception that caused this one, or <see langword="null"/>.</param>
    public ConnectionPoolTimeoutException(string? message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="ConnectionPoolTimeoutException"/> class for a pool that ran out of time.</summary>
    /// <param name="poolName">The name of the pool.</param>
    /// <param name="maxSize">The pool's maximum size.</param>
    /// <param name="timeout">The acquire timeout that passed.</param>
    public ConnectionPoolTimeoutException(string poolName, int maxSize, TimeSpan timeout)
        : base($"Timed out after {timeout} waiting for a connection from pool '{poolName}' (MaxSize {maxSize}): every connection stayed leased. Return leases sooner (await using), raise MaxSize or AcquireTimeout.")
    {
        PoolName = poolName;
        MaxSize = maxSize;
        Timeout = timeout;
    }

    /// <summary>Gets the name of the pool that timed out.</summary>
    public string? PoolName { get; }

    /// <summary>Gets the maximum size of the pool that timed out.</summary>
    public int MaxSize { get; }

    /// <summary>Gets the acquire timeout that passed.</summary>
    public TimeSpan Timeout { get; }
}
