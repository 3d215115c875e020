using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.RateLimiting.Internal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AsyncPatterns;

/// <summary>Adds a <see cref="RateLimitingHandler"/> to a named or typed <see cref="HttpClient"/>.</summary>
public static class RateLimiterHttpClientBuilderExtensions
{
    /// <summary>
    /// Limits every request of the client with the <see cref="RateLimiter"/> registered under
    /// <paramref name="limiterName"/> (for example by <see cref="RequestRateLimiterServiceCollectionExtensions.AddRequestRateLimiter(IServiceCollection, string, Action{RequestRateLimiterOptions})"/>,
    /// before or after this call). The limiter is shared: every handler the factory builds for the client, and every
    /// client using the same name, takes permits from the same instance. A rejected request throws
    /// <see cref="RateLimitRejectedException"/>.
    /// </summary>
    /// <remarks>
    /// The name is checked when the host starts (as <c>ValidateOnStart</c> does): a name no keyed <see cref="RateLimiter"/>
    /// is registered under fails the start with an <see cref="OptionsValidationException"/> that names the client, the
    /// missing limiter and the registered ones. Without a host (a bare service provider), creating the client throws an
    /// <see cref="InvalidOperationException"/> with the same message.
    /// </remarks>
    /// <param name="builder">The client builder.</param>
    /// <param name="limiterName">The key of the registered <see cref="RateLimiter"/>.</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="limiterName"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="limiterName"/> is empty or white space.</exception>
    public static IHttpClientBuilder AddRateLimiter(this IHttpClientBuilder builder, string limiterName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(limiterName);

        var services = builder.Services;
        var clientName = builder.Name;
        services.AddOptions<RateLimiterReference>(RateLimiterReference.OptionsName(clientName, limiterName))
            .Configure(reference =>
            {
                reference.ClientName = clientName;
                reference.LimiterName = limiterName;
            })
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RateLimiterReference>, RateLimiterReferenceValidator>(
            sp => new RateLimiterReferenceValidator(sp, services)));
        return builder.AddHttpMessageHandler(sp => new RateLimitingHandler(
            sp.GetKeyedService<RateLimiter>(limiterName)
            ?? throw new InvalidOperationException(RateLimiterReferenceValidator.Missing(services, clientName, limiterName))));
    }

    /// <summary>
    /// Limits every request of the client with <paramref name="limiter"/>, which the caller owns (it is not disposed
    /// with the client). A rejected request throws <see cref="RateLimitRejectedException"/>.
    /// </summary>
    /// <param name="builder">The client builder.</param>
    /// <param name="limiter">The limiter every request takes a permit from.</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="limiter"/> is <see langword="null"/>.</exception>
    public static IHttpClientBuilder AddRateLimiter(this IHttpClientBuilder builder, RateLimiter limiter)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(limiter);
        return builder.AddHttpMessageHandler(() => new RateLimitingHandler(limiter));
    }
}
