using System.Threading.RateLimiting;
using AsyncPatterns.Redis;
using AsyncPatterns.Redis.Internal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AsyncPatterns;

/// <summary>Registers named <see cref="RedisRateLimiter"/>s in an <see cref="IServiceCollection"/>.</summary>
public static class RedisRateLimiterServiceCollectionExtensions
{
    /// <summary>
    /// Registers one shared <see cref="RedisRateLimiter"/> under <paramref name="name"/>, as a keyed singleton of both
    /// <see cref="RedisRateLimiter"/> and <see cref="RateLimiter"/> (same instance), so
    /// <c>AddHttpClient(...).AddRateLimiter(name)</c> and <c>[FromKeyedServices(name)] RateLimiter</c> use it. Unless
    /// the options set them, the connection is the container's <see cref="IConnectionMultiplexer"/>, the logger factory
    /// the container's, and the Redis <see cref="RedisRateLimiterOptions.Key"/> is <paramref name="name"/>. The options
    /// are named <paramref name="name"/> and validated when the host starts; the container disposes the limiter.
    /// Calling it again with the same name adds configuration to the same limiter.
    /// </summary>
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

        services.AddOptions<RedisRateLimiterOptions>(name)
            .Configure(options => options.Key = name)
            .Configure(configure)
            .PostConfigure<IServiceProvider>(static (options, sp) =>
            {
                options.ConnectionMultiplexer ??= sp.GetService<IConnectionMultiplexer>();
                options.LoggerFactory ??= sp.GetService<ILoggerFactory>();
            })
            .ValidateOnStart();
        services.TryAddEnumerable(
            ServiceDescriptor.Singleton<IValidateOptions<RedisRateLimiterOptions>, RedisRateLimiterOptionsValidator>());
        services.TryAddKeyedSingleton(
            name,
            static (sp, key) => new RedisRateLimiter(
                sp.GetRequiredService<IOptionsMonitor<RedisRateLimiterOptions>>().Get((string)key!)));
        services.TryAddKeyedSingleton<RateLimiter>(
            name, static (sp, key) => sp.GetRequiredKeyedService<RedisRateLimiter>(key));
        return services;
    }
}
