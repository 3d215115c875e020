using System.Threading.RateLimiting;
using AsyncPatterns.Redis;
using AsyncPatterns.Redis.Internal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AsyncPatterns;

/// <summary>Registers named <see cref="RedisRateLimiter"/>s in an <see cref="IServiceCollection"/>.</summary>
/// <remarks>
/// <para>
/// Each method registers one shared <see cref="RedisRateLimiter"/> under its name, as a keyed singleton of both
/// <see cref="RedisRateLimiter"/> and <see cref="RateLimiter"/> (same instance), so
/// <c>AddHttpClient(...).AddRateLimiter(name)</c> and <c>[FromKeyedServices(name)] RateLimiter</c> use it. Unless
/// the options set them, the connection is the container's <see cref="IConnectionMultiplexer"/>, the logger factory
/// and the <see cref="TimeProvider"/> the container's (when registered), and the Redis <see cref="RedisRateLimiterOptions.Key"/>
/// is the name. The options are named after the limiter and validated when the host starts, with the constructor's
/// rules: a broken rule fails the start with an <see cref="OptionsValidationException"/> naming the limiter. The
/// container disposes the limiter. Calling a method again with the same name adds configuration to the same limiter.
/// </para>
/// <para>
/// The methods return the <see cref="IServiceCollection"/> (as they always have, so existing chains still compile);
/// further configuration of the options goes through <c>services.AddOptions&lt;RedisRateLimiterOptions&gt;(name)</c>.
/// </para>
/// </remarks>
public static class RedisRateLimiterServiceCollectionExtensions
{
    /// <summary>Registers the limiter <paramref name="name"/> with default options (no rate or concurrency limit until configured).</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The limiter's name: the service key, the options name and the default Redis key.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty.</exception>
    public static IServiceCollection AddRedisRateLimiter(this IServiceCollection services, string name)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(name);
        return Register(services, name, static _ => { });
    }

    /// <summary>Registers the limiter <paramref name="name"/> configured by <paramref name="configure"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The limiter's name: the service key, the options name and the default Redis key.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/>, <paramref name="name"/> or <paramref name="configure"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty.</exception>
    public static IServiceCollection AddRedisRateLimiter(
        this IServiceCollection services, string name, Action<RedisRateLimiterOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(configure);
        return Register(services, name, configure);
    }

    /// <summary>Registers the limiter <paramref name="name"/> with options bound from <paramref name="configuration"/>.</summary>
    /// <remarks>
    /// The keys are <c>Database</c>, <c>Key</c>, <c>PermitsPerSecond</c>, <c>Burst</c>, <c>MaxConcurrency</c>,
    /// <c>QueueLimit</c>, <c>QueueProcessingOrder</c>, <c>LeaseTime</c> and <c>OperationTimeout</c> (<c>hh:mm:ss</c>),
    /// <c>FaultPolicy</c> and <c>FailoverFraction</c>. The connection, clock and logger factory come from the container
    /// (or from code). The binding is read without reflection; a value that does not parse fails the host's start with an
    /// <see cref="InvalidOperationException"/> naming its configuration path.
    /// </remarks>
    /// <param name="services">The services.</param>
    /// <param name="name">The limiter's name: the service key, the options name and the default Redis key.</param>
    /// <param name="configuration">The section to bind, such as <c>builder.Configuration.GetSection("RateLimiters:Api")</c>.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/>, <paramref name="name"/> or <paramref name="configuration"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty.</exception>
    public static IServiceCollection AddRedisRateLimiter(
        this IServiceCollection services, string name, IConfigurationSection configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(configuration);
        return Register(services, name, options => options.Bind(configuration));
    }

    private static IServiceCollection Register(IServiceCollection services, string name, Action<RedisRateLimiterOptions> configure)
    {
        services.AddOptions<RedisRateLimiterOptions>(name)
            .Configure(options => options.Key = name)
            .Configure(configure)
            .PostConfigure<IServiceProvider>(static (options, sp) =>
            {
                options.ConnectionMultiplexer ??= sp.GetService<IConnectionMultiplexer>();
                options.LoggerFactory ??= sp.GetService<ILoggerFactory>();
                if (ReferenceEquals(options.TimeProvider, TimeProvider.System) && sp.GetService<TimeProvider>() is { } time)
                {
                    options.TimeProvider = time;
                }
            })
            .ValidateOnStart();
        services.TryAddEnumerable(
            ServiceDescriptor.Singleton<IValidateOptions<RedisRateLimiterOptions>>(RedisRateLimiterOptionsValidator.Instance));
        services.TryAddKeyedSingleton(
            name,
            static (sp, key) => new RedisRateLimiter(
                sp.GetRequiredService<IOptionsMonitor<RedisRateLimiterOptions>>().Get((string)key!)));
        services.TryAddKeyedSingleton<RateLimiter>(
            name, static (sp, key) => sp.GetRequiredKeyedService<RedisRateLimiter>(key));
        return services;
    }
}
