using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting.Internal;

namespace AsyncPatterns.RateLimiting;

/// <summary>
/// Limits requests two ways at once: at most <see cref="RequestRateLimiterOptions.MaxConcurrency"/> in flight and at
/// most <see cref="RequestRateLimiterOptions.PermitsPerSecond"/> started per second (with a
/// <see cref="RequestRateLimiterOptions.Burst"/>). It is a plain <see cref="RateLimiter"/>, so Polly's
/// <c>AddRateLimiter</c>, ASP.NET Core and <see cref="PartitionedRateLimiter"/> accept it.
/// </summary>
/// <remarks>
/// <para>
/// A successful lease spends its rate permit when it is granted and holds its concurrency permit until it is disposed:
/// <c>using (await limiter.AcquireAsync(cancellationToken)) { ... }</c>. Callers that cannot be served at once wait in
/// one queue, first come first served by default (up to <see cref="RequestRateLimiterOptions.QueueLimit"/> permits); when the queue is
/// full the acquire completes with a lease whose <see cref="RateLimitLease.IsAcquired"/> is <see langword="false"/>, with
/// <see cref="MetadataName.RetryAfter"/> when the rate (not the concurrency) is what is short.
/// </para>
/// <para>
/// Time comes from <see cref="RequestRateLimiterOptions.TimeProvider"/>, so rate-dependent code is testable with
/// <c>FakeTimeProvider</c>. A cancelled waiter consumes nothing and completes with an
/// <see cref="OperationCanceledException"/> carrying the caller's token; disposing the limiter fails the waiters with
/// <see cref="ObjectDisposedException"/>. All members are safe to call concurrently.
/// </para>
/// </remarks>
public sealed class RequestRateLimiter : RateLimiter
{
    private readonly LimiterCore _core;

    /// <summary>Initializes a new instance of the <see cref="RequestRateLimiter"/> class.</summary>
    /// <param name="options">The options; validated and copied here.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="options"/> break a rule of <see cref="RequestRateLimiterOptions"/>; the message lists each one.</exception>
    public RequestRateLimiter(RequestRateLimiterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        RequestRateLimiterOptionsValidator.Instance.ThrowIfInvalid(options, nameof(options));
        _core = new LimiterCore(
            this,
            options.TimeProvider,
            options.MaxConcurrency,
            options.PermitsPerSecond,
            TimeSpan.FromSeconds(1),
            options.Burst,
            options.QueueLimit,
            options.QueueProcessingOrder);
    }

    /// <summary>Initializes a new instance of the <see cref="RequestRateLimiter"/> class with a burst of 1 and an unbounded queue.</summary>
    /// <param name="maxConcurrency">How many leases may be held at once; at least 1.</param>
    /// <param name="permitsPerSecond">How many leases may start per second; positive, fractional allowed.</param>
    /// <param name="timeProvider">The clock; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxConcurrency"/> or <paramref name="permitsPerSecond"/> is out of range.</exception>
    public RequestRateLimiter(int maxConcurrency, double permitsPerSecond, TimeProvider? timeProvider = null)
        : this(CreateOptions(maxConcurrency, permitsPerSecond, timeProvider))
    {
    }

    /// <summary>Gets how long the limiter has had no lease held, nothing queued and a full burst, or <see langword="null"/> if it is in use.</summary>
    public override TimeSpan? IdleDuration => _core.IdleDuration;

    /// <summary>Waits for one permit: a slot among <see cref="RequestRateLimiterOptions.MaxConcurrency"/> and a start within the rate.</summary>
    /// <param name="cancellationToken">Cancels the wait; a cancelled wait consumes nothing.</param>
    /// <returns>
    /// The lease: dispose it when the work is done to give the concurrency permit back. Its
    /// <see cref="RateLimitLease.IsAcquired"/> is <see langword="false"/> if the queue was full.
    /// </returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled before a permit was granted.</exception>
    /// <exception cref="ObjectDisposedException">The limiter is (or was, while waiting) disposed.</exception>
    public ValueTask<RateLimitLease> AcquireAsync(CancellationToken cancellationToken = default) => AcquireAsync(1, cancellationToken);

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

    private static RequestRateLimiterOptions CreateOptions(int maxConcurrency, double permitsPerSecond, TimeProvider? timeProvider)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConcurrency, 1);
        if (!(permitsPerSecond > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(permitsPerSecond), permitsPerSecond, "The rate must be a positive number.");
        }

        return new RequestRateLimiterOptions
        {
            MaxConcurrency = maxConcurrency,
            PermitsPerSecond = permitsPerSecond,
            TimeProvider = timeProvider ?? TimeProvider.System,
        };
    }
}
