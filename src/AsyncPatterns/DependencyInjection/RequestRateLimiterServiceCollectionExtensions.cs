using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.RateLimiting.Internal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AsyncPatterns;

/// <summary>Registers named <see cref="RequestRateLimiter"/>s in an <see cref="IServiceCollection"/>.</summary>
public static class RequestRateLimiterServiceCollectionExtensions
{
    /// <summary>
    /// Registers one shared <see cref="RequestRateLimiter"/> under <paramref name="name"/>, as a keyed singleton of both
    /// <see cref="RequestRateLimiter"/> and <see cref="RateLimiter"/> (same instance). Its options are named
    /// <paramref name="name"/> and validated when the host starts. Calling it again with the same name adds
    /// configuration to the same limiter.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The limiter's name: the service key and the options name.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/>, <paramref name="name"/> or <paramref name="configure"/> is <see langword="null"/>.</exception>
    public static IServiceCollection AddRequestRateLimiter(
        this IServiceCollection services, string name, Action<RequestRateLimiterOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(configure);

        services.AddOptions<RequestRateLimiterOptions>(name).Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(
            ServiceDescriptor.Singleton<IValidateOptions<RequestRateLimiterOptions>, RequestRateLimiterOptionsValidator>());
        services.TryAddKeyedSingleton(
            name,
            static (sp, key) => new RequestRateLimiter(
                sp.GetRequiredService<IOptionsMonitor<RequestRateLimiterOptions>>().Get((string)key!)));
        services.TryAddKeyedSingleton<RateLimiter>(
            name, static (sp, key) => sp.GetRequiredKeyedService<RequestRateLimiter>(key));
        return services;
    }
}
