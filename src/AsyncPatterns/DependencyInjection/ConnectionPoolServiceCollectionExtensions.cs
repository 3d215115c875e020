using AsyncPatterns.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AsyncPatterns;

/// <summary>Registers <see cref="AsyncConnectionPool{TConnection}"/> singletons in a service collection.</summary>
public static class ConnectionPoolServiceCollectionExtensions
{
    /// <summary>
    /// Registers a singleton <see cref="AsyncConnectionPool{TConnection}"/> (unkeyed) configured by
    /// <paramref name="configure"/>. The options are validated when the host starts; the container disposes the pool.
    /// Logging uses the container's <see cref="ILoggerFactory"/> unless the options set one.
    /// </summary>
    /// <typeparam name="TConnection">The type of the pooled connection.</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the hooks and limits.</param>
    /// <returns>The options builder, to chain more configuration.</returns>
    public static OptionsBuilder<ConnectionPoolOptions<TConnection>> AddConnectionPool<TConnection>(
        this IServiceCollection services, Action<ConnectionPoolOptions<TConnection>> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var builder = AddPoolOptions(services, Options.DefaultName, configure);
        services.TryAddSingleton(static sp => new AsyncConnectionPool<TConnection>(
            sp.GetRequiredService<IOptionsMonitor<ConnectionPoolOptions<TConnection>>>().Get(Options.DefaultName)));
        return builder;
    }

    /// <summary>
    /// Registers a keyed singleton <see cref="AsyncConnectionPool{TConnection}"/> under <paramref name="name"/>
    /// (resolve it with <c>[FromKeyedServices(name)]</c> or <c>GetRequiredKeyedService</c>), configured by named
    /// options. The pool's <see cref="ConnectionPoolOptions{TConnection}.Name"/> defaults to <paramref name="name"/>.
    /// The options are validated when the host starts; the container disposes the pool.
    /// </summary>
    /// <typeparam name="TConnection">The type of the pooled connection.</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The service key and options name.</param>
    /// <param name="configure">Sets the hooks and limits.</param>
    /// <returns>The options builder, to chain more configuration.</returns>
    public static OptionsBuilder<ConnectionPoolOptions<TConnection>> AddConnectionPool<TConnection>(
        this IServiceCollection services, string name, Action<ConnectionPoolOptions<TConnection>> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configure);
        var builder = AddPoolOptions<TConnection>(services, name, options =>
        {
            options.Name = name;
            configure(options);
        });
        services.TryAddKeyedSingleton(name, static (sp, key) => new AsyncConnectionPool<TConnection>(
            sp.GetRequiredService<IOptionsMonitor<ConnectionPoolOptions<TConnection>>>().Get((string)key!)));
        return builder;
    }

    private static OptionsBuilder<ConnectionPoolOptions<TConnection>> AddPoolOptions<TConnection>(
        IServiceCollection services, string name, Action<ConnectionPoolOptions<TConnection>> configure)
    {
        var builder = services.AddOptions<ConnectionPoolOptions<TConnection>>(name).Configure(configure);
        builder.PostConfigure<IServiceProvider>(static (options, sp) => options.LoggerFactory ??= sp.GetService<ILoggerFactory>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ConnectionPoolOptions<TConnection>>, ConnectionPoolOptionsValidator<TConnection>>());
        builder.ValidateOnStart();
        return builder;
    }

    private sealed class ConnectionPoolOptionsValidator<TConnection> : IValidateOptions<ConnectionPoolOptions<TConnection>>
    {
        public ValidateOptionsResult Validate(string? name, ConnectionPoolOptions<TConnection> options)
        {
            try
            {
                options.Validate();
                return ValidateOptionsResult.Success;
            }
            catch (ArgumentException ex)
            {
                return ValidateOptionsResult.Fail($"Connection pool options '{name}': {ex.Message}");
            }
        }
    }
}
