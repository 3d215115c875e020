using System.Threading.RateLimiting;
using AsyncPatterns.Internal;
using Microsoft.Extensions.Configuration;

namespace AsyncPatterns.RateLimiting;

/// <summary>Options of a <see cref="RequestRateLimiter"/>: at most <see cref="MaxConcurrency"/> at once and at most <see cref="PermitsPerSecond"/> starts per second.</summary>
/// <remarks>
/// The setters only store their value. The options are validated, and copied, when the limiter is built: an
/// <see cref="ArgumentException"/> naming the <c>options</c> parameter lists every broken rule as
/// <c>RequestRateLimiterOptions.&lt;Property&gt; must be … (was …).</c>; under <c>AddRequestRateLimiter</c> the same rules
/// fail the host's start with an <see cref="Microsoft.Extensions.Options.OptionsValidationException"/> naming the limiter.
/// </remarks>
public sealed class RequestRateLimiterOptions
{
    /// <summary>Gets or sets how many leases may be held at once. A lease holds its concurrency permit until it is disposed.</summary>
    /// <value>At least 1. The default is <see cref="int.MaxValue"/> (no concurrency limit).</value>
    public int MaxConcurrency { get; set; } = int.MaxValue;

    /// <summary>Gets or sets how many leases may start per second; fractional rates are allowed (0.5 is one every two seconds).</summary>
    /// <value>A positive number. The default is <see cref="double.PositiveInfinity"/> (no rate limit).</value>
    public double PermitsPerSecond { get; set; } = double.PositiveInfinity;

    /// <summary>
    /// Gets or sets how many leases may start at once after a quiet spell. With 1, starts are spaced evenly
    /// (1 / <see cref="PermitsPerSecond"/> apart); with N, up to N start together, then the rate applies.
    /// </summary>
    /// <value>At least 1. The default is 1.</value>
    public int Burst { get; set; } = 1;

    /// <summary>Gets or sets how many permits may wait; an acquire that does not fit is rejected with a failed lease.</summary>
    /// <value>Zero or more. The default is <see cref="int.MaxValue"/> (callers wait their turn, as on a semaphore).</value>
    public int QueueLimit { get; set; } = int.MaxValue;

    /// <summary>Gets or sets which waiter is served first when a permit comes free.</summary>
    /// <value>The default is <see cref="QueueProcessingOrder.OldestFirst"/> (first come, first served). Must be a defined value.</value>
    public QueueProcessingOrder QueueProcessingOrder { get; set; } = QueueProcessingOrder.OldestFirst;

    /// <summary>Gets or sets the clock that paces the starts and whose timers wake queued callers.</summary>
    /// <value>The default is <see cref="TimeProvider.System"/>. Must not be <see langword="null"/>.</value>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Sets the options bound from <paramref name="configuration"/> (the keys of the configuration overload of <c>AddRequestRateLimiter</c>).</summary>
    internal void Bind(IConfiguration configuration)
    {
        ConfigurationReader.Int32(configuration, nameof(MaxConcurrency), v => MaxConcurrency = v);
        ConfigurationReader.Double(configuration, nameof(PermitsPerSecond), v => PermitsPerSecond = v);
        ConfigurationReader.Int32(configuration, nameof(Burst), v => Burst = v);
        ConfigurationReader.Int32(configuration, nameof(QueueLimit), v => QueueLimit = v);
        ConfigurationReader.Enum<QueueProcessingOrder>(configuration, nameof(QueueProcessingOrder), v => QueueProcessingOrder = v);
    }
}
