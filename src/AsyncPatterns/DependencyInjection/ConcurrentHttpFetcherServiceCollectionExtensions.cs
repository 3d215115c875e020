using AsyncPatterns.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AsyncPatterns;

/// <summary>Registers <see cref="ConcurrentHttpFetcher"/> instances over named <see cref="HttpClient"/>s.</summary>
public static class ConcurrentHttpFetcherServiceCollectionExtensions
{
    /// <summary>
    /// Registers the named <see cref="HttpClient"/> <paramref name="name"/> and a singleton <see cref="ConcurrentHttpFetcher"/>
    /// over it with default <see cref="FetchOptions"/>, as a keyed service under <paramref name="name"/> (and as the
    /// unkeyed <see cref="ConcurrentHttpFetcher"/> if none was registered before).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The name of the client and the key of the fetcher.</param>
    /// <returns>The builder of the named client, to configure its handlers (base address, resilience, primary handler).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="name"/> is null.</exception>
    public static IHttpClientBuilder AddConcurrentHttpFetcher(this IServiceCollection services, string name) =>
        services.AddConcurrentHttpFetcher(name, static _ => { });

    /// <summary>
    /// Registers the named <see cref="HttpClient"/> <paramref name="name"/> and a singleton <see cref="ConcurrentHttpFetcher"/>
    /// over it, configured by <paramref name="configure"/> (named options <paramref name="name"/>, validated when the host
    /// starts), as a keyed service under <paramref name="name"/> (and as the unkeyed <see cref="ConcurrentHttpFetcher"/>
    /// if none was registered before).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The name of the client, of the options and the key of the fetcher.</param>
    /// <param name="configure">Configures the options; an invalid value throws when the host starts.</param>
    /// <returns>The builder of the named client, to configure its handlers (base address, resilience, primary handler).</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static IHttpClientBuilder AddConcurrentHttpFetcher(this IServiceCollection services, string name, Action<FetchOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(configure);

        services.AddOptions<FetchOptions>(name).Configure(configure).ValidateOnStart();
        services.AddKeyedSingleton(name, static (provider, key) =>
        {
            var clientName = (string)key!;
            var options = provider.GetRequiredService<IOptionsMonitor<FetchOptions>>().Get(clientName);
            return new ConcurrentHttpFetcher(provider.GetRequiredService<IHttpClientFactory>(), clientName, options);
        });
        services.TryAddSingleton(provider => provider.GetRequiredKeyedService<ConcurrentHttpFetcher>(name));
        return services.AddHttpClient(name);
    }
}
