using System.Threading.RateLimiting;

namespace AsyncPatterns.RateLimiting;

/// <summary>
/// Options of a <see cref="TokenBucketLimiter"/>: the same shape as
/// <see cref="TokenBucketRateLimiterOptions"/>, plus the <see cref="TimeProvider"/> the bucket refills from.
/// </summary>
/// <remarks>
/// The bucket refills continuously at <see cref="TokensPerPeriod"/> per <see cref="ReplenishmentPeriod"/> (fractional
/// tokens accumulate), up to <see cref="TokenLimit"/>. The options are validated, and copied, when the limiter is built.
/// </remarks>
public sealed class TokenBucketLimiterOptions
{
    /// <summary>Gets or sets the most tokens the bucket holds: the largest burst, and the largest permit count one acquire may ask for.</summary>
    /// <value>The token limit, at least 1. The default is 1.</value>
    public int TokenLimit { get; set; } = 1;

    /// <summary>Gets or sets how many tokens the bucket gains per <see cref="ReplenishmentPeriod"/>, spread evenly over the period.</summary>
    /// <value>The tokens per period, at least 1. The default is 1.</value>
    public int TokensPerPeriod { get; set; } = 1;

    /// <summary>Gets or sets the period over which <see cref="TokensPerPeriod"/> tokens are added.</summary>
    /// <value>A positive period. The default is one second.</value>
    public TimeSpan ReplenishmentPeriod { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets the most permits that may wait in the queue; an acquire that does not fit is rejected.</summary>
    /// <value>The queue limit, zero or more. The default is 0 (no queue: acquires that cannot be served at once are rejected).</value>
    public int QueueLimit { get; set; }

    /// <summary>Gets or sets which waiter is served first when tokens come in.</summary>
    /// <value>The default is <see cref="QueueProcessingOrder.OldestFirst"/>.</value>
    public QueueProcessingOrder QueueProcessingOrder { get; set; } = QueueProcessingOrder.OldestFirst;

    /// <summary>Gets or sets the clock the bucket refills from and whose timers wake queued waiters.</summary>
    /// <value>The default is <see cref="TimeProvider.System"/>.</value>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}
