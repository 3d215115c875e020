using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.RateLimiting.Internal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AsyncPatterns;

/// <summary>Registers named <see cref="RequestRateLimiter"/>s in an <see cref="IServiceCollection"/>.</summary>
/// <remarks>
/// Each method registers one shared <see cref="RequestRateLimiter"/> under its name, as a keyed singleton of both
/// <see cref="RequestRateLimiter"/> and <see cref="RateLimiter"/> (same instance), and returns the
/// <see cref="OptionsBuilder{TOptions}"/> of its named options to chain more configuration. The options are validated
/// when the host starts (an <see cref="OptionsValidationException"/> naming the limiter). Calling a method again with the
/// same name adds configuration to the same limiter. <see cref="RequestRateLimiterOptions.TimeProvider"/> defaults to the
/// registered <see cref="TimeProvider"/>, if any, unless the options set another one.
/// </remarks>
public static class RequestRateLimiterServiceCollectionExtensions
{
    /// <summary>Registers the limiter <paramref name="name"/> with default options (configure it through the returned builder).</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The limiter's name: the service key and the options name.</param>
    /// <returns>The builder of the limiter's named options.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="name"/> is <see langword="null"/>.</exception>
    public static OptionsBuilder<RequestRateLimiterOptions> AddRequestRateLimiter(this IServiceCollection services, string name)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        return Register(services, name);
    }

    /// <summary>Registers the limiter <paramref name="name"/>, configured by <paramref name="configure"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The limiter's name: the service key and the options name.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns>The builder of the limiter's named options.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/>, <paramref name="name"/> or <paramref name="configure"/> is <see langword="null"/>.</exception>
    public static OptionsBuilder<RequestRateLimiterOptions> AddRequestRateLimiter(
        this IServiceCollection services, string name, Action<RequestRateLimiterOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(configure);
        return Register(services, name).Configure(configure);
    }

    /// <summary>Registers the limiter <paramref name="name"/>, with options bound from <paramref name="configuration"/>.</summary>
    /// <remarks>
    /// The keys are <c>MaxConcurrency</c>, <c>PermitsPerSecond</c>, <c>Burst</c>, <c>QueueLimit</c> and
    /// <c>QueueProcessingOrder</c> (<c>OldestFirst</c> or <c>NewestFirst</c>). The binding is read without reflection
    /// (trimming- and AOT-safe); a value that does not parse fails the host's start with an
    /// <see cref="InvalidOperationException"/> naming its configuration path.
    /// </remarks>
    /// <param name="services">The services.</param>
    /// <param name="name">The limiter's name: the service key and the options name.</param>
    /// <param name="configuration">The section to bind, such as <c>builder.Configuration.GetSection("Limiters:GitHub")</c>.</param>
    /// <returns>The builder of the limiter's named options.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static OptionsBuilder<RequestRateLimiterOptions> AddRequestRateLimiter(
        this IServiceCollection services, string name, IConfigurationSection configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(configuration);
        return Register(services, name).Configure(options => options.Bind(configuration));
    }

    private static OptionsBuilder<RequestRateLimiterOptions> Register(IServiceCollection services, string name)
    {
        var builder = services.AddOptions<RequestRateLimiterOptions>(name);
        builder.PostConfigure<IServiceProvider>(static (options, sp) =>
        {
            if (ReferenceEquals(options.TimeProvider, TimeProvider.System) && sp.GetService<TimeProvider>() is { } time)
            {
                options.TimeProvider = time;
            }
        });
        builder.ValidateOnStart();
        services.TryAddEnumerable(
            ServiceDescriptor.Singleton<IValidateOptions<RequestRateLimiterOptions>>(RequestRateLimiterOptionsValidator.Instance));
        services.TryAddKeyedSingleton(
            name,
            static (sp, key) => new RequestRateLimiter(
                sp.GetRequiredService<IOptionsMonitor<RequestRateLimiterOptions>>().Get((string)key!)));
        services.TryAddKeyedSingleton<RateLimiter>(
            name, static (sp, key) => sp.GetRequiredKeyedService<RequestRateLimiter>(key));
        return builder;
    }
}
