using AsyncPatterns.BackgroundTasks;
using AsyncPatterns.BackgroundTasks.Internal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AsyncPatterns;

/// <summary>Registers a <see cref="BackgroundTaskTracker"/> that the host shuts down gracefully.</summary>
public static class BackgroundTaskTrackerServiceCollectionExtensions
{
    /// <summary>
    /// Registers a singleton <see cref="BackgroundTaskTracker"/> with default options, and a hosted service whose
    /// <c>StopAsync</c> calls <see cref="BackgroundTaskTracker.ShutdownAsync"/> with the host's remaining shutdown time:
    /// the grace period ends when the host's stop token is cancelled (at the end of <c>HostOptions.ShutdownTimeout</c>)
    /// or after <see cref="BackgroundTaskTrackerOptions.DefaultGrace"/>, whichever comes first; a shutdown the application
    /// began earlier (with a longer grace) also ends its grace when that token is cancelled. Uses the registered
    /// <see cref="TimeProvider"/> if any, <see cref="TimeProvider.System"/> otherwise.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is <see langword="null"/>.</exception>
    public static IServiceCollection AddBackgroundTaskTracker(this IServiceCollection services) =>
        AddBackgroundTaskTracker(services, static _ => { });

    /// <summary>
    /// Registers a singleton <see cref="BackgroundTaskTracker"/> configured by <paramref name="configure"/> (options are
    /// validated when the host starts), and a hosted service whose <c>StopAsync</c> calls
    /// <see cref="BackgroundTaskTracker.ShutdownAsync"/> with the host's remaining shutdown time (see the other overload). With
    /// <see cref="BackgroundTaskFaultBehavior.LogAndStopHost"/>, a fault stops the application through
    /// <see cref="IHostApplicationLifetime.StopApplication"/>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Configures the options.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="configure"/> is <see langword="null"/>.</exception>
    public static IServiceCollection AddBackgroundTaskTracker(this IServiceCollection services, Action<BackgroundTaskTrackerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);

        // The setters validate each value; ValidateOnStart makes a bad value fail the host's start, not the first use.
        services.AddOptions<BackgroundTaskTrackerOptions>().Configure(configure).ValidateOnStart();
        services.TryAddSingleton(static sp => new BackgroundTaskTracker(
            sp.GetRequiredService<IOptions<BackgroundTaskTrackerOptions>>().Value,
            sp.GetService<ILogger<BackgroundTaskTracker>>(),
            sp.GetService<TimeProvider>(),
            sp.GetService<IHostApplicationLifetime>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, BackgroundTaskTrackerHostedService>(static sp =>
            new BackgroundTaskTrackerHostedService(
                sp.GetRequiredService<BackgroundTaskTracker>(),
                sp.GetRequiredService<IOptions<BackgroundTaskTrackerOptions>>().Value.DefaultGrace,
                (ILogger?)sp.GetService<ILogger<BackgroundTaskTracker>>() ?? NullLogger.Instance)));
        return services;
    }
}
