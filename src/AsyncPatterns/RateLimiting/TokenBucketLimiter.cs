using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting.Internal;

namespace AsyncPatterns.RateLimiting;

/// <summary>
/// A token-bucket <see cref="ReplenishingRateLimiter"/> that takes its time from a <see cref="TimeProvider"/>, so code
/// that depends on a rate can be tested with <c>FakeTimeProvider</c>. A replacement for
/// <see cref="TokenBucketRateLimiter"/> with a continuous refill: <see cref="TokenBucketLimiterOptions"/> uses the
/// property names of <see cref="TokenBucketRateLimiterOptions"/> (without <c>AutoReplenishment</c>, with a
/// <c>TimeProvider</c>), but it is its own type, so code that builds the BCL's options object changes that type name.
/// </summary>
/// <remarks>
/// <para>
/// Tokens are added lazily on every call, from the time elapsed on the <see cref="TimeProvider"/>: the bucket
/// gains <see cref="TokenBucketLimiterOptions.TokensPerPeriod"/> tokens per
/// <see cref="TokenBucketLimiterOptions.ReplenishmentPeriod"/>, fractionally, up to
/// <see cref="TokenBucketLimiterOptions.TokenLimit"/>, so a limiter idle for an hour hands out at most
/// <c>TokenLimit</c> permits at once. Queued acquires are woken by a timer of the same <see cref="TimeProvider"/>
/// exactly when the tokens they need exist.
/// </para>
/// <para>
/// A failed lease carries <see cref="MetadataName.RetryAfter"/>: the time until enough tokens exist for the request
/// and everything queued before it. A cancelled queued acquire consumes nothing and completes with an
/// <see cref="OperationCanceledException"/> carrying the caller's token. Disposing the limiter fails the queued
/// acquires with <see cref="ObjectDisposedException"/> (the BCL limiter completes them with a failed lease instead).
/// </para>
/// <para>All members are safe to call concurrently.</para>
/// </remarks>
public sealed class TokenBucketLimiter : ReplenishingRateLimiter
{
    private readonly LimiterCore _core;
    private readonly TimeSpan _replenishmentPeriod;

    /// <summary>Initializes a new instance of the <see cref="TokenBucketLimiter"/> class.</summary>
    /// <param name="options">The options; validated and copied here.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="options"/> break a rule of <see cref="TokenBucketLimiterOptions"/>; the message lists each one.</exception>
    public TokenBucketLimiter(TokenBucketLimiterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        TokenBucketLimiterOptionsValidator.Instance.ThrowIfInvalid(options, nameof(options));
        _replenishmentPeriod = options.ReplenishmentPeriod;
        _core = new LimiterCore(
            this,
            options.TimeProvider,
            maxConcurrency: int.MaxValue,
            options.TokensPerPeriod,
            options.ReplenishmentPeriod,
            options.TokenLimit,
            options.QueueLimit,
            options.QueueProcessingOrder);
    }

    /// <summary>Gets a value that is always <see langword="true"/>: the bucket refills itself from the clock.</summary>
    public override bool IsAutoReplenishing => true;

    /// <summary>Gets the period over which <see cref="TokenBucketLimiterOptions.TokensPerPeriod"/> tokens are added.</summary>
    public override TimeSpan ReplenishmentPeriod => _replenishmentPeriod;

    /// <summary>Gets how long the bucket has been full with nothing queued, or <see langword="null"/> if it is in use.</summary>
    public override TimeSpan? IdleDuration => _core.IdleDuration;

    /// <summary>Does nothing and returns <see langword="false"/>, as every auto-replenishing limiter does: the bucket refills from the clock on its own.</summary>
    /// <returns><see langword="false"/>.</returns>
    public override bool TryReplenish() => false;

    /// <inheritdoc />
    public override RateLimiterStatistics? GetStatistics() => _core.GetStatistics();

    /// <inheritdoc />
    protected override RateLimitLease AttemptAcquireCore(int permitCount) => _core.AttemptAcquire(permitCount);

    /// <inheritdoc />
    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
        _core.AcquireAsync(permitCount, cancellationToken);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _core.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <inheritdoc />
    protected override ValueTask DisposeAsyncCore()
    {
        _core.Dispose();
        return base.DisposeAsyncCore();
    }
}
