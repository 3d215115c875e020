using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting;
using Microsoft.Extensions.DependencyInjection;

namespace AsyncPatterns;

/// <summary>Adds a <see cref="RateLimitingHandler"/> to a named or typed <see cref="HttpClient"/>.</summary>
public static class RateLimiterHttpClientBuilderExtensions
{
    /// <summary>
    /// Limits every request of the client with the <see cref="RateLimiter"/> registered under
    /// <paramref name="limiterName"/> (for example by <see cref="RequestRateLimiterServiceCollectionExtensions.AddRequestRateLimiter"/>).
    /// The limiter is shared: every handler the factory builds for the client, and every client using the same name,
    /// takes permits from the same instance. A rejected request throws <see cref="RateLimitRejectedException"/>.
    /// </summary>
    /// <param name="builder">The client builder.</param>
    /// <param name="limiterName">The key of the registered <see cref="RateLimiter"/>.</param>
    /// <returns><paramref name="builder"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="limiterName"/> is <see langword="null"/>.</exception>
    public static IHttpClientBuilder AddRateLimiter(this IHttpClientBuilder builder, string limiterName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(limiterName);
        return builder.AddHttpMessageHandler(sp => new RateLimitingHandler(sp.GetRequiredKeyedService<RateLimiter>(limiterName)));
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
