using AsyncPatterns.Http;
using AsyncPatterns.Http.Internal;
using AsyncPatterns.Retries;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AsyncPatterns;

/// <summary>Registers <see cref="ConcurrentHttpFetcher"/> instances over named <see cref="HttpClient"/>s.</summary>
/// <remarks>
/// Like <c>AddHttpClient</c>, these methods return the <see cref="IHttpClientBuilder"/> of the client they register;
/// further configuration of the options goes through <c>services.AddOptions&lt;FetchOptions&gt;(name)</c>. The options
/// are validated when the host starts with the fetcher's own rules: whatever the fetcher's constructor would reject
/// (including <see cref="FetchOptions.Retry"/> together with <see cref="FetchOptions.ResiliencePipeline"/>, and invalid
/// nested <see cref="RetryOptions"/>) fails the start with an <see cref="OptionsValidationException"/> naming the
/// fetcher. <see cref="FetchOptions.TimeProvider"/> and <see cref="RetryOptions.TimeProvider"/> default to the
/// registered <see cref="TimeProvider"/>, if any, unless the options set another one.
/// </remarks>
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
    public static IHttpClientBuilder AddConcurrentHttpFetcher(this IServiceCollection services, string name)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        return Register(services, name);
    }

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
        services.AddOptions<FetchOptions>(name).Configure(configure);
        return Register(services, name);
    }

    /// <summary>
    /// Registers the named <see cref="HttpClient"/> <paramref name="name"/> and a singleton <see cref="ConcurrentHttpFetcher"/>
    /// over it, with <see cref="FetchOptions"/> bound from <paramref name="configuration"/> (named options
    /// <paramref name="name"/>, validated when the host starts), as a keyed service under <paramref name="name"/>.
    /// </summary>
    /// <remarks>
    /// The keys are <c>MaxConcurrency</c>, <c>MaxConcurrencyPerHost</c>, <c>PerRequestTimeout</c>, <c>MaxResponseBytes</c>,
    /// <c>FailFast</c> and a <c>Retry</c> section (<c>MaxRetries</c>, <c>BaseDelay</c>, <c>BackoffType</c>,
    /// <c>MaxDelay</c>, <c>MaxTotalDelay</c>, <c>UseJitter</c>); a <c>Retry</c> section turns retries on with
    /// <see cref="HttpRetry"/>'s rules. Time spans are written as <c>hh:mm:ss</c>. Objects (limiter, pipeline, callbacks)
    /// are set in code, with <c>services.Configure&lt;FetchOptions&gt;(name, ...)</c> or the other overload. The binding
    /// is read without reflection (trimming- and AOT-safe); a value that does not parse fails the host's start with an
    /// <see cref="InvalidOperationException"/> naming its configuration path.
    /// </remarks>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The name of the client, of the options and the key of the fetcher.</param>
    /// <param name="configuration">The section to bind, such as <c>builder.Configuration.GetSection("Fetchers:Catalog")</c>.</param>
    /// <returns>The builder of the named client, to configure its handlers (base address, resilience, primary handler).</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static IHttpClientBuilder AddConcurrentHttpFetcher(this IServiceCollection services, string name, IConfigurationSection configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<FetchOptions>(name).Configure(options => options.Bind(configuration));
        return Register(services, name);
    }

    private static IHttpClientBuilder Register(IServiceCollection services, string name)
    {
        services.AddOptions<FetchOptions>(name)
            .PostConfigure<IServiceProvider>(static (options, sp) =>
            {
                if (sp.GetService<TimeProvider>() is { } time)
                {
                    if (ReferenceEquals(options.TimeProvider, TimeProvider.System))
                    {
                        options.TimeProvider = time;
                    }

                    if (options.Retry is { } retry && ReferenceEquals(retry.TimeProvider, TimeProvider.System))
                    {
                        retry.TimeProvider = time;
                    }
                }
            })
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<FetchOptions>>(FetchOptionsValidator.Instance));
        services.TryAddKeyedSingleton(name, static (provider, key) =>
        {
            var clientName = (string)key!;
            var options = provider.GetRequiredService<IOptionsMonitor<FetchOptions>>().Get(clientName);
            return new ConcurrentHttpFetcher(provider.GetRequiredService<IHttpClientFactory>(), clientName, options);
        });
        services.TryAddSingleton(provider => provider.GetRequiredKeyedService<ConcurrentHttpFetcher>(name));
        return services.AddHttpClient(name);
    }
}
