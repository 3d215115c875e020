using System.Threading.RateLimiting;
using AsyncPatterns.Internal;
using Microsoft.Extensions.Configuration;

namespace AsyncPatterns.RateLimiting;

/// <summary>Options of a <see cref="RequestRateLimiter"/>: at most <see cref="MaxConcurrency"/> at once and at most <see cref="PermitsPerSecond"/> starts per second.</summary>
/// <remarks>The options are validated, and copied, when the limiter is built.</remarks>
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
    /// <value>The default is <see cref="QueueProcessingOrder.OldestFirst"/> (first come, first served).</value>
    public QueueProcessingOrder QueueProcessingOrder { get; set; } = QueueProcessingOrder.OldestFirst;

    /// <summary>Gets or sets the clock that paces the starts and whose timers wake queued callers.</summary>
    /// <value>The default is <see cref="TimeProvider.System"/>.</value>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Returns the first problem with the options, or <see langword="null"/> when they are valid.</summary>
    internal ArgumentException? FindError()
    {
        if (MaxConcurrency < 1)
        {
            return new ArgumentOutOfRangeException(nameof(MaxConcurrency), MaxConcurrency, "MaxConcurrency must be at least 1.");
        }

        if (!(PermitsPerSecond > 0))
        {
            return new ArgumentOutOfRangeException(nameof(PermitsPerSecond), PermitsPerSecond, "PermitsPerSecond must be a positive number (PositiveInfinity for no rate limit).");
        }

        if (Burst < 1)
        {
            return new ArgumentOutOfRangeException(nameof(Burst), Burst, "Burst must be at least 1.");
        }

        if (QueueLimit < 0)
        {
            return new ArgumentOutOfRangeException(nameof(QueueLimit), QueueLimit, "QueueLimit must not be negative.");
        }

        if (QueueProcessingOrder is not (QueueProcessingOrder.OldestFirst or QueueProcessingOrder.NewestFirst))
        {
            return new ArgumentOutOfRangeException(nameof(QueueProcessingOrder), QueueProcessingOrder, "Unknown queue processing order.");
        }

        if (TimeProvider is null)
        {
            return new ArgumentNullException(nameof(TimeProvider));
        }

        return null;
    }

    internal void Validate()
    {
        if (FindError() is { } error)
        {
            throw error;
        }
    }

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
