using AsyncPatterns.BackgroundTasks;
using AsyncPatterns.BackgroundTasks.Internal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AsyncPatterns;

/// <summary>Registers a <see cref="BackgroundTaskTracker"/> that the host shuts down gracefully.</summary>
/// <remarks>
/// <para>
/// Each method registers (once) a singleton <see cref="BackgroundTaskTracker"/>, with the registered
/// <see cref="TimeProvider"/> (or <see cref="TimeProvider.System"/>) and <see cref="ILogger{TCategoryName}"/>, and a
/// hosted service that shuts it down after the host has stopped every hosted service, so the services that feed the
/// tracker may be registered before or after it: the tracker accepts work until their <c>StopAsync</c> has returned.
/// The shutdown runs within the host's remaining shutdown time: the grace period ends when the host's stop token is
/// cancelled (at the end of <c>HostOptions.ShutdownTimeout</c>) or after
/// <see cref="BackgroundTaskTrackerOptions.DefaultGrace"/>, whichever comes first; a shutdown the application began
/// earlier (with a longer grace) also ends its grace when that token is cancelled. The report is logged and is the result
/// of <see cref="BackgroundTaskTracker.ShutdownCompletion"/>. With <see cref="BackgroundTaskFaultBehavior.LogAndStopHost"/>,
/// a fault stops the application through <see cref="IHostApplicationLifetime.StopApplication"/>.
/// </para>
/// <para>
/// The methods return the <see cref="OptionsBuilder{TOptions}"/> of the tracker's options to chain more configuration;
/// the options are validated when the host starts, with the rules of the tracker's constructor: a broken rule fails the
/// start with an <see cref="OptionsValidationException"/> whose message reads
/// <c>BackgroundTaskTrackerOptions '': BackgroundTaskTrackerOptions.&lt;Property&gt; must be … (was …).</c>
/// </para>
/// </remarks>
public static class BackgroundTaskTrackerServiceCollectionExtensions
{
    /// <summary>Registers the tracker with default options.</summary>
    /// <param name="services">The service collection.</param>
    /// <returns>The builder of the tracker's options.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is <see langword="null"/>.</exception>
    public static OptionsBuilder<BackgroundTaskTrackerOptions> AddBackgroundTaskTracker(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        return Register(services);
    }

    /// <summary>Registers the tracker configured by <paramref name="configure"/>.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Configures the options.</param>
    /// <returns>The builder of the tracker's options.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="configure"/> is <see langword="null"/>.</exception>
    public static OptionsBuilder<BackgroundTaskTrackerOptions> AddBackgroundTaskTracker(this IServiceCollection services, Action<BackgroundTaskTrackerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        return Register(services).Configure(configure);
    }

    /// <summary>Registers the tracker with options bound from <paramref name="configuration"/>.</summary>
    /// <remarks>
    /// The keys are <c>MaxInFlight</c>, <c>MaxQueued</c>, <c>DefaultGrace</c> (<c>hh:mm:ss</c>) and <c>FaultBehavior</c>
    /// (<c>Log</c> or <c>LogAndStopHost</c>). The binding is read without reflection (trimming- and AOT-safe); a value
    /// that does not parse fails the host's start with an <see cref="InvalidOperationException"/> naming its path.
    /// </remarks>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section to bind, such as <c>builder.Configuration.GetSection("BackgroundTasks")</c>.</param>
    /// <returns>The builder of the tracker's options.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="configuration"/> is <see langword="null"/>.</exception>
    public static OptionsBuilder<BackgroundTaskTrackerOptions> AddBackgroundTaskTracker(this IServiceCollection services, IConfigurationSection configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        return Register(services).Configure(options => options.Bind(configuration));
    }

    private static OptionsBuilder<BackgroundTaskTrackerOptions> Register(IServiceCollection services)
    {
        // The constructor's own validator, checked at host start: a bad value fails the start with an
        // OptionsValidationException, not the first use.
        var builder = services.AddOptions<BackgroundTaskTrackerOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<BackgroundTaskTrackerOptions>>(BackgroundTaskTrackerOptionsValidator.Instance));
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
        return builder;
    }
}
