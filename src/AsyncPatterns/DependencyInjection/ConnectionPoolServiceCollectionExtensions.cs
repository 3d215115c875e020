using AsyncPatterns.Connections;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AsyncPatterns;

/// <summary>Registers <see cref="AsyncConnectionPool{TConnection}"/> singletons in a service collection.</summary>
/// <remarks>
/// Every method returns the <see cref="OptionsBuilder{TOptions}"/> of the pool's options, to chain more configuration
/// (the hooks, which configuration cannot hold: <c>.Configure(o =&gt; o.CreateAsync = ...)</c>). The options are
/// validated when the host starts, naming the pool; the container disposes the pool. Logging uses the container's
/// <see cref="ILoggerFactory"/> and time the registered <see cref="TimeProvider"/>, unless the options set their own.
/// </remarks>
public static class ConnectionPoolServiceCollectionExtensions
{
    /// <summary>Registers an unkeyed singleton pool whose options are configured through the returned builder.</summary>
    /// <typeparam name="TConnection">The type of the pooled connection.</typeparam>
    /// <param name="services">The service collection.</param>
    /// <returns>The options builder; set at least <see cref="ConnectionPoolOptions{TConnection}.CreateAsync"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is <see langword="null"/>.</exception>
    public static OptionsBuilder<ConnectionPoolOptions<TConnection>> AddConnectionPool<TConnection>(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        return RegisterUnkeyed<TConnection>(services);
    }

    /// <summary>Registers an unkeyed singleton pool configured by <paramref name="configure"/>.</summary>
    /// <typeparam name="TConnection">The type of the pooled connection.</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the hooks and limits.</param>
    /// <returns>The options builder, to chain more configuration.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="configure"/> is <see langword="null"/>.</exception>
    public static OptionsBuilder<ConnectionPoolOptions<TConnection>> AddConnectionPool<TConnection>(
        this IServiceCollection services, Action<ConnectionPoolOptions<TConnection>> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        return RegisterUnkeyed<TConnection>(services).Configure(configure);
    }

    /// <summary>Registers an unkeyed singleton pool whose limits are bound from <paramref name="configuration"/>.</summary>
    /// <remarks>
    /// The keys are <c>MinSize</c>, <c>MaxSize</c>, <c>AcquireTimeout</c>, <c>IdleTimeout</c>, <c>MaxLifetime</c>,
    /// <c>MaxLifetimeJitter</c>, <c>ValidateAfterIdle</c>, <c>LeakDetectionThreshold</c>, <c>DrainTimeout</c> (time spans
    /// as <c>hh:mm:ss</c>, <c>-00:00:00.001</c> for infinite) and <c>Name</c>; set the hooks through the returned builder.
    /// The binding is read without reflection (trimming- and AOT-safe); a value that does not parse fails the host's
    /// start with an <see cref="InvalidOperationException"/> naming its path.
    /// </remarks>
    /// <typeparam name="TConnection">The type of the pooled connection.</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section to bind.</param>
    /// <returns>The options builder; set at least <see cref="ConnectionPoolOptions{TConnection}.CreateAsync"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="configuration"/> is <see langword="null"/>.</exception>
    public static OptionsBuilder<ConnectionPoolOptions<TConnection>> AddConnectionPool<TConnection>(
        this IServiceCollection services, IConfigurationSection configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        return RegisterUnkeyed<TConnection>(services).Configure(options => options.Bind(configuration));
    }

    /// <summary>
    /// Registers a keyed singleton pool under <paramref name="name"/> (resolve it with <c>[FromKeyedServices(name)]</c> or
    /// <c>GetRequiredKeyedService</c>), whose named options are configured through the returned builder. The pool's
    /// <see cref="ConnectionPoolOptions{TConnection}.Name"/> defaults to <paramref name="name"/>.
    /// </summary>
    /// <typeparam name="TConnection">The type of the pooled connection.</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The service key and options name.</param>
    /// <returns>The options builder; set at least <see cref="ConnectionPoolOptions{TConnection}.CreateAsync"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="name"/> is null, empty or white space.</exception>
    public static OptionsBuilder<ConnectionPoolOptions<TConnection>> AddConnectionPool<TConnection>(this IServiceCollection services, string name)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return RegisterKeyed<TConnection>(services, name);
    }

    /// <summary>
    /// Registers a keyed singleton pool under <paramref name="name"/> (resolve it with <c>[FromKeyedServices(name)]</c> or
    /// <c>GetRequiredKeyedService</c>), configured by named options. The pool's
    /// <see cref="ConnectionPoolOptions{TConnection}.Name"/> defaults to <paramref name="name"/>.
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
        return RegisterKeyed<TConnection>(services, name).Configure(configure);
    }

    /// <summary>
    /// Registers a keyed singleton pool under <paramref name="name"/> whose limits are bound from
    /// <paramref name="configuration"/> (the keys of <see cref="AddConnectionPool{TConnection}(IServiceCollection, IConfigurationSection)"/>).
    /// </summary>
    /// <typeparam name="TConnection">The type of the pooled connection.</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The service key and options name.</param>
    /// <param name="configuration">The section to bind.</param>
    /// <returns>The options builder; set at least <see cref="ConnectionPoolOptions{TConnection}.CreateAsync"/>.</returns>
    public static OptionsBuilder<ConnectionPoolOptions<TConnection>> AddConnectionPool<TConnection>(
        this IServiceCollection services, string name, IConfigurationSection configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configuration);
        return RegisterKeyed<TConnection>(services, name).Configure(options => options.Bind(configuration));
    }

    private static OptionsBuilder<ConnectionPoolOptions<TConnection>> RegisterUnkeyed<TConnection>(IServiceCollection services)
    {
        var builder = AddPoolOptions<TConnection>(services, Options.DefaultName);
        services.TryAddSingleton(static sp => new AsyncConnectionPool<TConnection>(
            sp.GetRequiredService<IOptionsMonitor<ConnectionPoolOptions<TConnection>>>().Get(Options.DefaultName)));
        return builder;
    }

    private static OptionsBuilder<ConnectionPoolOptions<TConnection>> RegisterKeyed<TConnection>(IServiceCollection services, string name)
    {
        // The name is set first, so configuration (and later Configure calls) may still rename the pool.
        var builder = AddPoolOptions<TConnection>(services, name).Configure(options => options.Name = name);
        services.TryAddKeyedSingleton(name, static (sp, key) => new AsyncConnectionPool<TConnection>(
            sp.GetRequiredService<IOptionsMonitor<ConnectionPoolOptions<TConnection>>>().Get((string)key!)));
        return builder;
    }

    private static OptionsBuilder<ConnectionPoolOptions<TConnection>> AddPoolOptions<TConnection>(IServiceCollection services, string name)
    {
        var builder = services.AddOptions<ConnectionPoolOptions<TConnection>>(name);
        builder.PostConfigure<IServiceProvider>(static (options, sp) =>
        {
            options.LoggerFactory ??= sp.GetService<ILoggerFactory>();
            if (ReferenceEquals(options.TimeProvider, TimeProvider.System) && sp.GetService<TimeProvider>() is { } time)
            {
                options.TimeProvider = time;
            }
        });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ConnectionPoolOptions<TConnection>>>(ConnectionPoolOptions<TConnection>.Validator.Instance));
        builder.ValidateOnStart();
        return builder;
    }
}
