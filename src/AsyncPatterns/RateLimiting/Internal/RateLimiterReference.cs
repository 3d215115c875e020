namespace AsyncPatterns.RateLimiting.Internal;

/// <summary>
/// A client's reference to a keyed <see cref="System.Threading.RateLimiting.RateLimiter"/> by name, held as named options
/// so that <c>ValidateOnStart</c> checks at host start that the limiter is registered.
/// </summary>
internal sealed class RateLimiterReference
{
    public string? ClientName { get; set; }

    public string? LimiterName { get; set; }

    /// <summary>The options name of one client's reference to one limiter (a client may use several).</summary>
    public static string OptionsName(string clientName, string limiterName) => $"{clientName}\u001f{limiterName}";
}
