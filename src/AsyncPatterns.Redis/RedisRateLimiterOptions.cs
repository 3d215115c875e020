using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AsyncPatterns.Redis;

/// <summary>
/// Options of a <see cref="RedisRateLimiter"/>: at most <see cref="PermitsPerSecond"/> starts per second (with a
/// <see cref="Burst"/>) and at most <see cref="MaxConcurrency"/> leases held at once, across every process that uses the
/// same <see cref="Key"/> on the same Redis. The shape is that of <c>RequestRateLimiterOptions</c> plus the connection,
/// the key, the lease time and the fault policy.
/// </summary>
/// <remarks>The options are validated, and copied, when the limiter is built.</remarks>
public sealed class RedisRateLimiterOptions
{
    /// <summary>The largest <see cref="PermitsPerSecond"/> accepted (Redis serves far fewer script calls than that per second).</summary>
    public const double MaxPermitsPerSecond = 1_000_000;

    /// <summary>The smallest <see cref="PermitsPerSecond"/> accepted: one permit every 11.6 days.</summary>
    public const double MinPermitsPerSecond = 1e-6;

    internal static readonly TimeSpan MinLeaseTime = TimeSpan.FromMilliseconds(100);
    internal static readonly TimeSpan MaxLeaseTime = TimeSpan.FromDays(1);
    internal static readonly TimeSpan MaxOperationTimeout = TimeSpan.FromMinutes(5);

    /// <summary>Gets or sets the connection to Redis. The limiter does not own it: it is not disposed with the limiter.</summary>
    /// <value>Required. Under dependency injection the default is the container's <see cref="IConnectionMultiplexer"/>.</value>
    public IConnectionMultiplexer? ConnectionMultiplexer { get; set; }

    /// <summary>Gets or sets the Redis database number.</summary>
    /// <value>The default is -1, the multiplexer's default database.</value>
    public int Database { get; set; } = -1;

    /// <summary>
    /// Gets or sets the name of the shared limit: every limiter with the same key on the same Redis shares one budget.
    /// The limiter stores its state under <c>{Key}:tat</c>, <c>{Key}:leases</c>, <c>{Key}:extra</c> and
    /// <c>{Key}:contended</c> (one Redis Cluster hash slot) and publishes releases on <c>{Key}:released</c>. Every process sharing a key must use the
    /// same limits and the same <see cref="LeaseTime"/>: the held leases are stored under keys that expire a second after
    /// the lease time of the last grant or renewal, so a process with a shorter lease time can drop the leases of one with
    /// a longer one.
    /// </summary>
    /// <value>Required, not empty. Under dependency injection the default is the limiter's name.</value>
    public string Key { get; set; } = string.Empty;

    /// <summary>Gets or sets how many leases may start per second, across every process; fractional rates are allowed.</summary>
    /// <value>
    /// Between <see cref="MinPermitsPerSecond"/> and <see cref="MaxPermitsPerSecond"/>, or <see cref="double.PositiveInfinity"/>
    /// for no rate limit (the default). At least one of <see cref="PermitsPerSecond"/> and <see cref="MaxConcurrency"/> must be set.
    /// </value>
    public double PermitsPerSecond { get; set; } = double.PositiveInfinity;

    /// <summary>
    /// Gets or sets how many leases may start at once after a quiet spell. With 1, starts are spaced evenly
    /// (1 / <see cref="PermitsPerSecond"/> apart); with B, up to B start together, then the rate applies: in any window of
    /// t seconds at most <see cref="PermitsPerSecond"/> × t + B leases start, across every process.
    /// </summary>
    /// <value>At least 1, and at most 1E+08 seconds' worth of the rate. The default is 1.</value>
    public int Burst { get; set; } = 1;

    /// <summary>
    /// Gets or sets how many leases may be held at once across every process. A lease holds its concurrency permit
    /// until it is disposed, or until its holder stops renewing it for <see cref="LeaseTime"/> (a process that died).
    /// </summary>
    /// <value>At least 1. The default is <see cref="int.MaxValue"/> (no concurrency limit).</value>
    public int MaxConcurrency { get; set; } = int.MaxValue;

    /// <summary>Gets or sets how many permits may wait in this process; an acquire that does not fit is rejected with a failed lease.</summary>
    /// <value>Zero or more. The default is <see cref="int.MaxValue"/>.</value>
    public int QueueLimit { get; set; } = int.MaxValue;

    /// <summary>Gets or sets which local waiter is served first when a permit comes free.</summary>
    /// <value>The default is <see cref="QueueProcessingOrder.OldestFirst"/> (first come, first served).</value>
    public QueueProcessingOrder QueueProcessingOrder { get; set; } = QueueProcessingOrder.OldestFirst;

    /// <summary>
    /// Gets or sets how long a concurrency permit survives in Redis without its holder: a held lease is renewed every
    /// third of this time, so a lease whose process died (or lost Redis for this long) is reclaimed after at most this
    /// time. Longer is safer against pauses (a holder cut off for longer than this loses its permit to another process);
    /// shorter frees the permits of dead processes sooner.
    /// </summary>
    /// <value>Between 100 milliseconds and 1 day. The default is 30 seconds.</value>
    public TimeSpan LeaseTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Gets or sets how long one Redis call may take before Redis counts as unavailable and <see cref="FaultPolicy"/>
    /// applies. After a fault the limiter does not ask Redis again for this long (or while the multiplexer reports it is
    /// not connected); an acquire's own cancellation always ends its wait sooner.
    /// </summary>
    /// <value>Positive, at most 5 minutes. The default is 1 second.</value>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets what an acquire does while Redis is unavailable.</summary>
    /// <value>The default is <see cref="RedisFaultPolicy.FailClosed"/>.</value>
    public RedisFaultPolicy FaultPolicy { get; set; } = RedisFaultPolicy.FailClosed;

    /// <summary>
    /// Gets or sets the fraction of the limits the local limiter grants under <see cref="RedisFaultPolicy.FailOverToLocal"/>:
    /// <see cref="PermitsPerSecond"/> × fraction per second, a burst of max(1, ⌊<see cref="Burst"/> × fraction⌋) and
    /// max(1, ⌊<see cref="MaxConcurrency"/> × fraction⌋) held at once, per process. With N processes, 1/N keeps the
    /// shared limits during an outage.
    /// </summary>
    /// <value>Greater than 0 and at most 1. The default is 0.5.</value>
    public double FailoverFraction { get; set; } = 0.5;

    /// <summary>Gets or sets the clock that paces local waits and lease renewals. The limits themselves are timed by the Redis server's clock.</summary>
    /// <value>The default is <see cref="TimeProvider.System"/>. Under dependency injection the default is the container's
    /// <see cref="System.TimeProvider"/> when one is registered.</value>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Gets or sets the logger factory for fault, recovery and lost-lease events (category <c>AsyncPatterns.Redis.RedisRateLimiter</c>).</summary>
    /// <value>The default is <see langword="null"/>: nothing is logged. The DI registration fills it from the container.</value>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Tests only: the script takes its time from <see cref="TimeProvider"/> instead of the server's <c>TIME</c>.</summary>
    internal bool UseClientClock { get; set; }

    /// <summary>Tests only: called with the script's time (µs since the Unix epoch) of every permit granted by Redis, to check windows on the server's clock.</summary>
    internal Action<long, int>? GrantObserver { get; set; }

    internal RedisRateLimiterOptions Clone() => (RedisRateLimiterOptions)MemberwiseClone();

    /// <summary>Sets the options bound from <paramref name="configuration"/> (the keys of the configuration overload of <c>AddRedisRateLimiter</c>).</summary>
    /// <exception cref="InvalidOperationException">A value does not parse; the message names its configuration path.</exception>
    internal void Bind(IConfiguration configuration)
    {
        Read<int>(configuration, nameof(Database), static t => int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null, v => Database = v);
        if (configuration[nameof(Key)] is { } key)
        {
            Key = key;
        }

        Read<double>(configuration, nameof(PermitsPerSecond), static t => double.TryParse(t, NumberStyles.Float | NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out var v) ? v : null, v => PermitsPerSecond = v);
        Read<int>(configuration, nameof(Burst), static t => int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null, v => Burst = v);
        Read<int>(configuration, nameof(MaxConcurrency), static t => int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null, v => MaxConcurrency = v);
        Read<int>(configuration, nameof(QueueLimit), static t => int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null, v => QueueLimit = v);
        Read<QueueProcessingOrder>(configuration, nameof(QueueProcessingOrder), static t => Enum.TryParse<QueueProcessingOrder>(t, ignoreCase: true, out var v) && Enum.IsDefined(v) ? v : null, v => QueueProcessingOrder = v);
        Read<TimeSpan>(configuration, nameof(LeaseTime), static t => TimeSpan.TryParse(t, CultureInfo.InvariantCulture, out var v) ? v : null, v => LeaseTime = v);
        Read<TimeSpan>(configuration, nameof(OperationTimeout), static t => TimeSpan.TryParse(t, CultureInfo.InvariantCulture, out var v) ? v : null, v => OperationTimeout = v);
        Read<RedisFaultPolicy>(configuration, nameof(FaultPolicy), static t => Enum.TryParse<RedisFaultPolicy>(t, ignoreCase: true, out var v) && Enum.IsDefined(v) ? v : null, v => FaultPolicy = v);
        Read<double>(configuration, nameof(FailoverFraction), static t => double.TryParse(t, NumberStyles.Float | NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out var v) ? v : null, v => FailoverFraction = v);
    }

    private static void Read<T>(IConfiguration configuration, string key, Func<string, T?> parse, Action<T> set)
        where T : struct
    {
        if (configuration[key] is not { } text)
        {
            return;
        }

        if (parse(text.Trim()) is not { } value)
        {
            var path = configuration is IConfigurationSection section ? ConfigurationPath.Combine(section.Path, key) : key;
            throw new InvalidOperationException($"Failed to convert configuration value '{text}' at '{path}' to type '{typeof(T).FullName}'.");
        }

        set(value);
    }
}
