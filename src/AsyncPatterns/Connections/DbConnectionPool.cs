using System.Data.Common;

namespace AsyncPatterns.Connections;

/// <summary>
/// Pools the connections of any ADO.NET provider (<see cref="DbConnection"/>): creates them with a factory, opens them
/// with <see cref="DbConnection.OpenAsync(CancellationToken)"/>, never pools or leases one whose
/// <see cref="DbConnection.State"/> is not <see cref="System.Data.ConnectionState.Open"/> (closed by its user, or broken
/// after the provider saw the server end it), validates idle ones with a cheap query and destroys them with
/// <see cref="DbConnection.DisposeAsync"/>.
/// </summary>
public static class DbConnectionPool
{
    /// <summary>The validation query used unless another is given: valid on SQLite, PostgreSQL, SQL Server and MySQL.</summary>
    public const string DefaultValidationQuery = "SELECT 1";

    /// <summary>Creates a pool of <typeparamref name="TConnection"/> connections.</summary>
    /// <typeparam name="TConnection">The provider's connection type.</typeparam>
    /// <param name="connectionFactory">Creates a closed connection (for example <c>() =&gt; new SqliteConnection(connectionString)</c>).</param>
    /// <param name="configure">Adjusts the options (sizes, timeouts, name) after the ADO.NET hooks are set; may be <see langword="null"/>.</param>
    /// <returns>The pool; dispose it to close every connection.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="connectionFactory"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">An option set by <paramref name="configure"/> is out of range.</exception>
    public static AsyncConnectionPool<TConnection> Create<TConnection>(Func<TConnection> connectionFactory, Action<ConnectionPoolOptions<TConnection>>? configure = null)
        where TConnection : DbConnection
    {
        var options = CreateOptions(connectionFactory);
        configure?.Invoke(options);
        return new AsyncConnectionPool<TConnection>(options);
    }

    /// <summary>Creates pool options whose hooks open, validate and dispose <typeparamref name="TConnection"/> connections.</summary>
    /// <typeparam name="TConnection">The provider's connection type.</typeparam>
    /// <param name="connectionFactory">Creates a closed connection.</param>
    /// <param name="validationQuery">The query run on a connection that was idle for <see cref="ConnectionPoolOptions{TConnection}.ValidateAfterIdle"/>; <see langword="null"/> only checks that the connection is still open.</param>
    /// <returns>Options with <see cref="ConnectionPoolOptions{TConnection}.CreateAsync"/>, <see cref="ConnectionPoolOptions{TConnection}.IsUsable"/> (<c>State == Open</c>), <see cref="ConnectionPoolOptions{TConnection}.ValidateAsync"/> and <see cref="ConnectionPoolOptions{TConnection}.DestroyAsync"/> set and the name of <typeparamref name="TConnection"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="connectionFactory"/> is <see langword="null"/>.</exception>
    public static ConnectionPoolOptions<TConnection> CreateOptions<TConnection>(Func<TConnection> connectionFactory, string? validationQuery = DefaultValidationQuery)
        where TConnection : DbConnection
    {
        ArgumentNullException.ThrowIfNull(connectionFactory);
        return new ConnectionPoolOptions<TConnection>
        {
            CreateAsync = async cancellationToken =>
            {
                var connection = connectionFactory();
                try
                {
                    await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                    return connection;
                }
                catch
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            },
            IsUsable = static connection => connection.State == System.Data.ConnectionState.Open,
            ValidateAsync = async (connection, cancellationToken) =>
            {
                if (connection.State != System.Data.ConnectionState.Open)
                {
                    return false;
                }

                if (validationQuery is null)
                {
                    return true;
                }

                var command = connection.CreateCommand();
                await using (command.ConfigureAwait(false))
                {
#pragma warning disable CA2100 // The validation query is the application's own constant, not user input.
                    command.CommandText = validationQuery;
#pragma warning restore CA2100
                    await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
                    return true;
                }
            },
            DestroyAsync = static connection => connection.DisposeAsync(),
        };
    }
}
