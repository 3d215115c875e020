using AsyncPatterns.Internal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace AsyncPatterns.Connections;

/// <summary>
/// Configures an <see cref="AsyncConnectionPool{TConnection}"/>: the hooks that create, validate, reset and destroy a
/// connection, the size limits and the time limits. The pool validates and copies the options when it is built, so
/// changing them afterwards has no effect on an existing pool.
/// </summary>
/// <typeparam name="TConnection">The type of the pooled connection.</typeparam>
public sealed class ConnectionPoolOptions<TConnection>
{
    /// <summary>The largest timeout the pool accepts (<see cref="int.MaxValue"/> milliseconds, about 24.8 days).</summary>
    private static readonly TimeSpan s_maxTimeout = TimeSpan.FromMilliseconds(int.MaxValue);

    /// <summary>Gets or sets the hook that creates and opens a new connection. Required.</summary>
    /// <value>No default: the pool cannot be built without it. For a caller's connection the token is cancelled when that caller gives up or its acquire timeout passes; for the background MinSize refill, when the pool is disposed (a refill whose hook ignores the token still stops before its next create, and the connection it returns is destroyed).</value>
    public Func<CancellationToken, ValueTask<TConnection>>? CreateAsync { get; set; }

    /// <summary>
    /// Gets or sets the cheap, synchronous check (no round trip) of whether a connection can still be used, for
    /// example <c>c =&gt; c.State == ConnectionState.Open</c>. The pool calls it when a lease is returned (a connection
    /// that is not usable is destroyed instead of pooled) and again before every lease, however briefly the
    /// connection was idle; a connection that fails it is destroyed and the caller gets another one (or a new one)
    /// within the same acquire timeout. Returning <see langword="false"/> or throwing both mean "not usable".
    /// </summary>
    /// <value>Default <see langword="null"/>: every connection is considered usable. <see cref="DbConnectionPool"/> sets it to <c>State == Open</c>.</value>
    /// <remarks>It runs outside the pool's lock but on the caller's thread, so it must not block or call into the pool.</remarks>
    public Func<TConnection, bool>? IsUsable { get; set; }

    /// <summary>
    /// Gets or sets the hook that checks a connection that has been idle for at least <see cref="ValidateAfterIdle"/>
    /// before it is handed out. Returning <see langword="false"/> or throwing destroys the connection, and the caller
    /// gets another one (or a new one) within the same acquire timeout.
    /// </summary>
    /// <value>Default <see langword="null"/>: connections are not validated.</value>
    public Func<TConnection, CancellationToken, ValueTask<bool>>? ValidateAsync { get; set; }

    /// <summary>
    /// Gets or sets the hook that cleans a connection when it is returned (rolls back a transaction, resets session
    /// state). Throwing destroys the connection instead of pooling it.
    /// </summary>
    /// <value>Default <see langword="null"/>: connections are pooled as they are returned.</value>
    public Func<TConnection, CancellationToken, ValueTask>? ResetAsync { get; set; }

    /// <summary>Gets or sets the hook that closes a connection the pool retires. Exceptions it throws are logged, never rethrown.</summary>
    /// <value>Default <see langword="null"/>: <see cref="IAsyncDisposable.DisposeAsync"/> when the connection implements it, otherwise <see cref="IDisposable.Dispose"/> when it implements that, otherwise nothing.</value>
    public Func<TConnection, ValueTask>? DestroyAsync { get; set; }

    /// <summary>Gets or sets how many connections the pool keeps open even when idle; it refills to this size in the background.</summary>
    /// <value>Default 0. Must be between 0 and <see cref="MaxSize"/>.</value>
    public int MinSize { get; set; }

    /// <summary>
    /// Gets or sets the most connections the pool ever has open at once: idle, leased, being created and being
    /// destroyed together.
    /// </summary>
    /// <value>Default 10. Must be at least 1.</value>
    /// <remarks>
    /// A connection the pool retires (failed validation or reset, <c>Invalidate()</c>, expiry, <c>Clear()</c>) keeps
    /// its slot until its <see cref="DestroyAsync"/> hook has finished, so the pool's own count of open connections
    /// never exceeds <c>MaxSize</c>: a new connection is created only after the old one's close has returned. A slow
    /// destroy hook therefore delays the callers waiting for that slot. The server may still list a closed
    /// connection for a moment (closing an Npgsql connection, for example, does not wait for the backend process to
    /// exit), so a server-side count can briefly read one or more above <c>MaxSize</c>.
    /// </remarks>
    public int MaxSize { get; set; } = 10;

    /// <summary>
    /// Gets or sets how long <see cref="AsyncConnectionPool{TConnection}.AcquireAsync"/> may take in total (waiting,
    /// creating, validating) before it throws <see cref="ConnectionPoolTimeoutException"/>.
    /// </summary>
    /// <value>Default 30 seconds. Positive, or <see cref="Timeout.InfiniteTimeSpan"/> to wait as long as the caller's token allows.</value>
    public TimeSpan AcquireTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets how long a connection may stay idle before it is closed, as long as the pool keeps <see cref="MinSize"/> connections.</summary>
    /// <value>Default 10 minutes. Positive, or <see cref="Timeout.InfiniteTimeSpan"/> to never evict idle connections.</value>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Gets or sets the longest a connection lives: an older connection is never handed out, and a leased one is
    /// destroyed when it is returned (never under its user). Set it a little below any limit the server or a
    /// load balancer enforces.
    /// </summary>
    /// <value>Default 30 minutes. Positive, or <see cref="Timeout.InfiniteTimeSpan"/> for no limit.</value>
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// Gets or sets the fraction of <see cref="MaxLifetime"/> by which each connection's lifetime is shortened at
    /// random, so connections created together do not all expire together.
    /// </summary>
    /// <value>Default 0.025 (up to 2.5 % shorter, as HikariCP does). Between 0 (no jitter) and 0.5.</value>
    public double MaxLifetimeJitter { get; set; } = 0.025;

    /// <summary>Gets or sets the source of randomness for <see cref="MaxLifetimeJitter"/>: a function returning a value in [0, 1).</summary>
    /// <value>Default <see cref="Random.NextDouble"/> of <see cref="Random.Shared"/>. Tests inject a fixed sequence. A value outside [0, 1] is clamped; NaN, or a Randomizer that throws, gives that connection its full <see cref="MaxLifetime"/>.</value>
    public Func<double> Randomizer { get; set; } = Random.Shared.NextDouble;

    /// <summary>
    /// Gets or sets how long a connection may sit idle before it is checked with <see cref="ValidateAsync"/> on its
    /// way out. Connections used more recently are trusted, which saves a round trip on busy pools.
    /// </summary>
    /// <value>Default 500 milliseconds. <see cref="TimeSpan.Zero"/> validates every connection taken from the idle list (a connection handed straight from a returning caller to a waiting one was in use a moment ago and is not checked); <see cref="Timeout.InfiniteTimeSpan"/> never validates. Ignored without <see cref="ValidateAsync"/>.</value>
    public TimeSpan ValidateAfterIdle { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Gets or sets how long a lease may be held before the pool logs a warning, once per lease, with the stack
    /// trace of the code that acquired it. When set, every acquire captures a stack trace, which costs time and memory.
    /// </summary>
    /// <value>Default <see cref="Timeout.InfiniteTimeSpan"/>: leak detection is off. Otherwise positive.</value>
    public TimeSpan LeakDetectionThreshold { get; set; } = Timeout.InfiniteTimeSpan;

    /// <summary>
    /// Gets or sets how long <see cref="AsyncConnectionPool{TConnection}.DisposeAsync"/> waits for leased connections
    /// to come back (and then for destroy hooks to finish) before it destroys them anyway and returns.
    /// </summary>
    /// <value>Default 30 seconds. Zero or positive; never infinite, so disposal cannot hang.</value>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the clock for every timeout, lifetime and duration metric.</summary>
    /// <value>Default <see cref="TimeProvider.System"/>.</value>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Gets or sets the logger factory for leak warnings, background failures and destroy errors.</summary>
    /// <value>Default <see langword="null"/>: nothing is logged. The DI registration fills it from the container.</value>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Gets or sets the pool name used in exceptions, logs and the <c>db.client.connection.pool.name</c> metric attribute.</summary>
    /// <value>Default the name of <typeparamref name="TConnection"/>. Must not be empty.</value>
    public string Name { get; set; } = typeof(TConnection).Name;

    /// <summary>Throws an <see cref="ArgumentException"/> on <c>options</c> listing every broken rule.</summary>
    internal void Validate() => Validator.Instance.ThrowIfInvalid(this, "options");

    /// <summary>
    /// The rules of the options, checked when the pool is built and, under <c>AddConnectionPool</c>, when the host starts
    /// (where each failure reads <c>ConnectionPoolOptions '&lt;name&gt;': ConnectionPoolOptions.&lt;Property&gt; must be … (was …).</c>).
    /// </summary>
    internal sealed class Validator : OptionsValidator<ConnectionPoolOptions<TConnection>>
    {
        public static readonly Validator Instance = new();

        private static readonly string s_timeoutRule = $"positive and at most {s_maxTimeout:c}, or Timeout.InfiniteTimeSpan";

        private Validator()
        {
        }

        public override string TypeName => "ConnectionPoolOptions";

        public override void Collect(ConnectionPoolOptions<TConnection> options, string path, List<string> failures)
        {
            Require(options.CreateAsync is not null, failures, path, nameof(CreateAsync), "set", options.CreateAsync is null ? null : "set");
            Require(options.MaxSize >= 1, failures, path, nameof(MaxSize), "at least 1", options.MaxSize);
            Require(options.MinSize >= 0 && options.MinSize <= Math.Max(options.MaxSize, 0), failures, path, nameof(MinSize),
                $"between 0 and {nameof(MaxSize)} ({options.MaxSize})", options.MinSize);
            RequirePositiveOrInfinite(options.AcquireTimeout, nameof(AcquireTimeout), path, failures);
            RequirePositiveOrInfinite(options.IdleTimeout, nameof(IdleTimeout), path, failures);
            RequirePositiveOrInfinite(options.MaxLifetime, nameof(MaxLifetime), path, failures);
            RequirePositiveOrInfinite(options.LeakDetectionThreshold, nameof(LeakDetectionThreshold), path, failures);
            Require(options.ValidateAfterIdle == Timeout.InfiniteTimeSpan || options.ValidateAfterIdle >= TimeSpan.Zero, failures, path,
                nameof(ValidateAfterIdle), "zero or more, or Timeout.InfiniteTimeSpan", options.ValidateAfterIdle);
            Require(options.DrainTimeout >= TimeSpan.Zero && options.DrainTimeout <= s_maxTimeout, failures, path, nameof(DrainTimeout),
                $"zero or more and at most {s_maxTimeout:c} (never infinite)", options.DrainTimeout);
            Require(options.MaxLifetimeJitter is >= 0 and <= 0.5, failures, path, nameof(MaxLifetimeJitter), "between 0 and 0.5", options.MaxLifetimeJitter);
            Require(options.Randomizer is not null, failures, path, nameof(Randomizer), "set", options.Randomizer is null ? null : "set");
            Require(options.TimeProvider is not null, failures, path, nameof(TimeProvider), "set", options.TimeProvider);
            Require(!string.IsNullOrWhiteSpace(options.Name), failures, path, nameof(Name), "not empty", options.Name is null ? null : $"'{options.Name}'");
        }

        private static void RequirePositiveOrInfinite(TimeSpan value, string property, string path, List<string> failures) =>
            Require(value == Timeout.InfiniteTimeSpan || (value > TimeSpan.Zero && value <= s_maxTimeout), failures, path, property, s_timeoutRule, value);
    }

    /// <summary>Sets the limits bound from <paramref name="configuration"/> (the keys of the configuration overloads of <c>AddConnectionPool</c>).</summary>
    internal void Bind(IConfiguration configuration)
    {
        ConfigurationReader.Int32(configuration, nameof(MinSize), v => MinSize = v);
        ConfigurationReader.Int32(configuration, nameof(MaxSize), v => MaxSize = v);
        ConfigurationReader.TimeSpan(configuration, nameof(AcquireTimeout), v => AcquireTimeout = v);
        ConfigurationReader.TimeSpan(configuration, nameof(IdleTimeout), v => IdleTimeout = v);
        ConfigurationReader.TimeSpan(configuration, nameof(MaxLifetime), v => MaxLifetime = v);
        ConfigurationReader.Double(configuration, nameof(MaxLifetimeJitter), v => MaxLifetimeJitter = v);
        ConfigurationReader.TimeSpan(configuration, nameof(ValidateAfterIdle), v => ValidateAfterIdle = v);
        ConfigurationReader.TimeSpan(configuration, nameof(LeakDetectionThreshold), v => LeakDetectionThreshold = v);
        ConfigurationReader.TimeSpan(configuration, nameof(DrainTimeout), v => DrainTimeout = v);
        if (configuration[nameof(Name)] is { } name)
        {
            Name = name;
        }
    }
}
