using System.Threading.RateLimiting;
using AsyncPatterns.Redis.Internal;

namespace AsyncPatterns.Redis;

/// <summary>
/// A <see cref="RateLimiter"/> whose limits hold across every process that shares one <see cref="RedisRateLimiterOptions.Key"/>
/// on one Redis: at most <see cref="RedisRateLimiterOptions.PermitsPerSecond"/> leases start per second with a burst of
/// <see cref="RedisRateLimiterOptions.Burst"/> (in any window of t seconds at most R × t + B, timed by the Redis server's
/// clock, so client clock skew cannot break it), and at most <see cref="RedisRateLimiterOptions.MaxConcurrency"/> are
/// held at once. It is a plain <see cref="RateLimiter"/>, so <c>FetchOptions.RateLimiter</c>, <c>AddRateLimiter</c>,
/// Polly and ASP.NET Core accept it.
/// </summary>
/// <remarks>
/// <para>
/// Each attempt is one atomic Lua script call (GCRA for the rate, a sorted set of leases for the concurrency), so an
/// acquire that can be granted costs one round trip. One that cannot waits in a local queue, first come first served by
/// default: the queue's head sleeps until the time the script said its permits are due, or until a concurrency permit
/// is released by any process (published on <c>{Key}:released</c> while an acquire was denied for concurrency in the
/// last two lease times; a release nobody can be waiting for publishes nothing), or until the earliest held lease
/// expires, and then asks again. <see cref="RedisRateLimiterOptions.QueueLimit"/>, cancellation, <see cref="MetadataName.RetryAfter"/> and
/// <see cref="GetStatistics"/> behave as in <c>RequestRateLimiter</c>; the available permits in the statistics are those
/// of the last reply.
/// </para>
/// <para>
/// A held lease is renewed every third of <see cref="RedisRateLimiterOptions.LeaseTime"/>; the permits of a process that
/// died are reclaimed at most one lease time after its last renewal. A cancelled waiter completes at once with an
/// <see cref="OperationCanceledException"/> carrying the caller's token; if its script call was already in flight and is
/// granted, the concurrency permit is given back, but the rate permit is spent.
/// </para>
/// <para>
/// When Redis is not connected or does not answer within <see cref="RedisRateLimiterOptions.OperationTimeout"/>,
/// <see cref="RedisRateLimiterOptions.FaultPolicy"/> applies (fail closed, or fail over to a local limiter at
/// <see cref="RedisRateLimiterOptions.FailoverFraction"/> of the limits). A call that reaches the server after its
/// deadline (it waited in the multiplexer's backlog) does nothing, and permits granted to a caller that gave up are given
/// back, so a reconnect brings no burst beyond <see cref="RedisRateLimiterOptions.Burst"/>. The limiter does not own the
/// multiplexer. Disposing it fails the waiters with <see cref="ObjectDisposedException"/> and stops renewing held
/// leases; disposing those leases still releases them. All members are safe to call concurrently.
/// </para>
/// </remarks>
public sealed class RedisRateLimiter : RateLimiter
{
    private readonly RedisLimiterCore _core;

    /// <summary>Initializes a new instance of the <see cref="RedisRateLimiter"/> class.</summary>
    /// <param name="options">The options; validated and copied here.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="options"/> break a rule of <see cref="RedisRateLimiterOptions"/> (no connection, an
    /// empty key, a value out of range); the message lists each one.</exception>
    public RedisRateLimiter(RedisRateLimiterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var copy = options.Clone();
        RedisRateLimiterOptionsValidator.Instance.ThrowIfInvalid(copy, nameof(options));
        _core = new RedisLimiterCore(this, copy);
    }

    /// <summary>Gets how long this process has had no lease held and nothing queued, or <see langword="null"/> if it is in use.</summary>
    public override TimeSpan? IdleDuration => _core.IdleDuration;

    /// <summary>Gets the number of script calls this limiter has sent to Redis (acquire, release and renew), to measure round trips per grant.</summary>
    internal long RoundTrips => _core.RoundTrips;

    /// <summary>Waits for one permit: a start within the shared rate and a slot among the shared concurrency.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>
    /// The lease: dispose it when the work is done to give the concurrency permit back. Its
    /// <see cref="RateLimitLease.IsAcquired"/> is <see langword="false"/> if the queue was full, or if Redis is
    /// unavailable under <see cref="RedisFaultPolicy.FailClosed"/> (the reason is in <see cref="MetadataName.ReasonPhrase"/>).
    /// </returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled before a permit was granted.</exception>
    /// <exception cref="ObjectDisposedException">The limiter is (or was, while waiting) disposed.</exception>
    public ValueTask<RateLimitLease> AcquireAsync(CancellationToken cancellationToken = default) => AcquireAsync(1, cancellationToken);

    /// <inheritdoc />
    public override RateLimiterStatistics? GetStatistics() => _core.GetStatistics();

    /// <summary>Tries to take permits now, without queueing: one synchronous round trip, bounded by the multiplexer's <c>SyncTimeout</c>.</summary>
    /// <param name="permitCount">The number of permits; 0 asks whether one is available without taking it.</param>
    /// <returns>The lease; failed if the permits are not available now, if waiters are queued ahead, or if Redis is unavailable under <see cref="RedisFaultPolicy.FailClosed"/>.</returns>
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
    protected override async ValueTask DisposeAsyncCore()
    {
        await _core.CloseAsync().ConfigureAwait(false);
        await base.DisposeAsyncCore().ConfigureAwait(false);
    }
}
