using System.Threading.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AsyncPatterns.RateLimiting.Internal;

/// <summary>
/// Checks, when the host starts, that the limiter a client names in <c>AddRateLimiter(name)</c> is registered as a keyed
/// <see cref="RateLimiter"/>, and lists the registered names when it is not.
/// </summary>
/// <remarks>
/// Whether the name resolves is asked of the container (<see cref="IServiceProviderIsKeyedService"/>, which also knows
/// <see cref="KeyedService.AnyKey"/> registrations); the names listed come from the service collection the registration
/// was made in, which is complete once the provider is built.
/// </remarks>
internal sealed class RateLimiterReferenceValidator(IServiceProvider provider, IServiceCollection services) : IValidateOptions<RateLimiterReference>
{
    public ValidateOptionsResult Validate(string? name, RateLimiterReference options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.LimiterName is not { } limiterName)
        {
            return ValidateOptionsResult.Skip;
        }

        var isKeyed = provider.GetService<IServiceProviderIsKeyedService>();
        if (isKeyed is null || isKeyed.IsKeyedService(typeof(RateLimiter), limiterName))
        {
            return ValidateOptionsResult.Success;
        }

        return ValidateOptionsResult.Fail(Missing(services, options.ClientName ?? string.Empty, limiterName));
    }

    /// <summary>The message for a client whose limiter is not registered: the client, the missing name, the registered ones.</summary>
    public static string Missing(IServiceCollection services, string clientName, string limiterName)
    {
        var registered = services
            .Where(d => d.IsKeyedService && d.ServiceType == typeof(RateLimiter) && d.ServiceKey is string)
            .Select(d => (string)d.ServiceKey!)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
        var known = registered.Count == 0
            ? $"No limiter is registered: add one with services.AddRequestRateLimiter(\"{limiterName}\", ...)."
            : $"Registered limiters: {string.Join(", ", registered.Select(n => $"'{n}'"))}.";
        return $"HttpClient '{clientName}': AddRateLimiter(\"{limiterName}\") names no registered RateLimiter. {known}";
    }
}
