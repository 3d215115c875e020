using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.Tests.RateLimiting;

/// <summary>
/// The <see cref="RateLimiter"/> contract, run against the BCL <see cref="TokenBucketRateLimiter"/>, against
/// <see cref="TokenBucketLimiter"/> and against <see cref="RequestRateLimiter"/>: queueing, queue order, zero-permit acquires, statistics, cancellation, disposal
/// and argument checks. Time plays no part (the BCL limiter refills from the real stopwatch, even through
/// <c>TryReplenish</c>, so only time-free behaviour can be compared); the time-dependent behaviour of
/// <see cref="TokenBucketLimiter"/> is in <see cref="TokenBucketLimiterTests"/>.
/// </summary>
public abstract class RateLimiterContractTests
{
    /// <summary>Creates a full limiter of <paramref name="tokenLimit"/> tokens that does not refill during the test.</summary>
    protected abstract RateLimiter Create(int tokenLimit, int tokensPerPeriod, int queueLimit, QueueProcessingOrder order);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void AttemptAcquire_TokensAvailable_AcquiresAndCountsDown()
    {
        using var limiter = Create(3, 1, 0, QueueProcessingOrder.OldestFirst);

        using var lease = limiter.AttemptAcquire(2);

        lease.IsAcquired.Should().BeTrue();
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(1);
        limiter.GetStatistics()!.TotalSuccessfulLeases.Should().Be(1);
    }

    [Fact]
    public void AttemptAcquire_NotEnoughTokens_FailsWithRetryAfterAndCountsTheFailure()
    {
        using var limiter = Create(2, 1, 0, QueueProcessingOrder.OldestFirst);
        limiter.AttemptAcquire(2).IsAcquired.Should().BeTrue();

        using var lease = limiter.AttemptAcquire(1);

        lease.IsAcquired.Should().BeFalse();
        lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter).Should().BeTrue();
        retryAfter.Should().BePositive();
        limiter.GetStatistics()!.TotalFailedLeases.Should().Be(1);
    }

    [Fact]
    public void AttemptAcquire_ZeroPermits_ReportsAvailabilityWithoutConsuming()
    {
        using var limiter = Create(1, 1, 0, QueueProcessingOrder.OldestFirst);

        limiter.AttemptAcquire(0).IsAcquired.Should().BeTrue();
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(1);

        limiter.AttemptAcquire(1).IsAcquired.Should().BeTrue();
        limiter.AttemptAcquire(0).IsAcquired.Should().BeFalse();
    }

    [Fact]
    public async Task AcquireAsync_ZeroPermitsWithTokens_CompletesAtOnceWithoutConsuming()
    {
        using var limiter = Create(1, 1, 1, QueueProcessingOrder.OldestFirst);

        var task = limiter.AcquireAsync(0, Ct);

        task.IsCompletedSuccessfully.Should().BeTrue();
        (await task).IsAcquired.Should().BeTrue();
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(1);
    }

    [Fact]
    public void AcquireAsync_NoTokens_QueuesThePermits()
    {
        using var limiter = Create(2, 1, 3, QueueProcessingOrder.OldestFirst);
        limiter.AttemptAcquire(2).IsAcquired.Should().BeTrue();

        var waiting = limiter.AcquireAsync(2, Ct).AsTask();
        var zero = limiter.AcquireAsync(0, Ct).AsTask();

        waiting.IsCompleted.Should().BeFalse();
        zero.IsCompleted.Should().BeFalse("a zero-permit acquire waits while no permit is available");
        limiter.GetStatistics()!.CurrentQueuedCount.Should().Be(2);
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_QueueFullOldestFirst_FailsTheNewRequest()
    {
        using var limiter = Create(1, 1, 1, QueueProcessingOrder.OldestFirst);
        limiter.AttemptAcquire(1).IsAcquired.Should().BeTrue();
        var queued = limiter.AcquireAsync(1, Ct).AsTask();

        using var rejected = await limiter.AcquireAsync(1, Ct);

        rejected.IsAcquired.Should().BeFalse();
        queued.IsCompleted.Should().BeFalse();
        limiter.GetStatistics()!.TotalFailedLeases.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_QueueFullNewestFirst_FailsTheOldestWaiter()
    {
        using var limiter = Create(1, 1, 1, QueueProcessingOrder.NewestFirst);
        limiter.AttemptAcquire(1).IsAcquired.Should().BeTrue();
        var oldest = limiter.AcquireAsync(1, Ct).AsTask();

        var newest = limiter.AcquireAsync(1, Ct).AsTask();

        (await oldest.WaitAsync(FakeClock.HangTimeout, Ct)).IsAcquired.Should().BeFalse();
        newest.IsCompleted.Should().BeFalse();
        limiter.GetStatistics()!.TotalFailedLeases.Should().Be(1, "the evicted waiter counts as a failed lease");
        limiter.GetStatistics()!.CurrentQueuedCount.Should().Be(1);
    }

    [Fact]
    public void AcquireAsync_NegativePermitCount_ThrowsNamingIt()
    {
        using var limiter = Create(1, 1, 1, QueueProcessingOrder.OldestFirst);
        limiter.Invoking(l => l.AcquireAsync(-1, Ct)).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("permitCount");
        limiter.Invoking(l => l.AttemptAcquire(-1)).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("permitCount");
    }

    [Fact]
    public async Task AcquireAsync_CancelledWhileQueued_ThrowsWithCallerTokenAndConsumesNothing()
    {
        using var limiter = Create(1, 1, 2, QueueProcessingOrder.OldestFirst);
        limiter.AttemptAcquire(1).IsAcquired.Should().BeTrue();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var cancelled = limiter.AcquireAsync(1, cts.Token).AsTask();
        var behind = limiter.AcquireAsync(1, Ct).AsTask();

        await cts.CancelAsync();

        (await cancelled.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>())
            .Which.CancellationToken.Should().Be(cts.Token);
        limiter.GetStatistics()!.CurrentQueuedCount.Should().Be(1);
        limiter.GetStatistics()!.TotalFailedLeases.Should().Be(0);
        behind.IsCompleted.Should().BeFalse();

        // The cancelled waiter's place is free again: one more request fits in the queue of two.
        var another = limiter.AcquireAsync(1, Ct).AsTask();
        another.IsCompleted.Should().BeFalse();
        limiter.GetStatistics()!.CurrentQueuedCount.Should().Be(2);
    }

    [Fact]
    public async Task AcquireAsync_QueueLimitAboveZero_AcceptsUpToTheLimitInPermits()
    {
        using var limiter = Create(2, 2, 3, QueueProcessingOrder.OldestFirst);
        limiter.AttemptAcquire(2).IsAcquired.Should().BeTrue();
        var two = limiter.AcquireAsync(2, Ct).AsTask();

        using var tooMany = await limiter.AcquireAsync(2, Ct);

        tooMany.IsAcquired.Should().BeFalse();
        var one = limiter.AcquireAsync(1, Ct).AsTask();
        limiter.GetStatistics()!.CurrentQueuedCount.Should().Be(3);
        two.IsCompleted.Should().BeFalse();
        one.IsCompleted.Should().BeFalse();
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(4)]
    public void AttemptAcquire_PermitCountOutOfRange_Throws(int permitCount)
    {
        using var limiter = Create(3, 1, 0, QueueProcessingOrder.OldestFirst);

        limiter.Invoking(l => l.AttemptAcquire(permitCount)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(4)]
    public void AcquireAsync_PermitCountOutOfRange_ThrowsSynchronously(int permitCount)
    {
        using var limiter = Create(3, 1, 5, QueueProcessingOrder.OldestFirst);

        limiter.Invoking(l => l.AcquireAsync(permitCount, Ct)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Acquire_AfterDispose_ThrowsObjectDisposedException()
    {
        var limiter = Create(1, 1, 1, QueueProcessingOrder.OldestFirst);
        limiter.Dispose();

        limiter.Invoking(l => l.AttemptAcquire(1)).Should().Throw<ObjectDisposedException>();
        limiter.Invoking(l => l.AcquireAsync(1, Ct)).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public async Task DisposeAsync_CalledTwice_IsIdempotent()
    {
        var limiter = Create(1, 1, 1, QueueProcessingOrder.OldestFirst);

        await limiter.DisposeAsync();
        await limiter.DisposeAsync();
        limiter.Dispose();

        limiter.Invoking(l => l.AttemptAcquire(1)).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public async Task Dispose_WithQueuedWaiter_CompletesTheWaiterWithoutAPermit()
    {
        var limiter = Create(1, 1, 1, QueueProcessingOrder.OldestFirst);
        limiter.AttemptAcquire(1).IsAcquired.Should().BeTrue();
        var waiting = limiter.AcquireAsync(1, Ct).AsTask();

        limiter.Dispose();

        // The BCL completes the waiter with a failed lease; TokenBucketLimiter fails it with ObjectDisposedException.
        // Either way the waiter is released and holds no permit.
        bool? acquired = null;
        var error = await Record.ExceptionAsync(async () => acquired = (await waiting.WaitAsync(FakeClock.HangTimeout, Ct)).IsAcquired);
        (error is ObjectDisposedException || (error is null && acquired == false)).Should().BeTrue($"got {error?.GetType().Name ?? "a lease"} (acquired: {acquired})");
    }
}

public sealed class BclTokenBucketRateLimiterContractTests : RateLimiterContractTests
{
    protected override RateLimiter Create(int tokenLimit, int tokensPerPeriod, int queueLimit, QueueProcessingOrder order) =>
        new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = tokenLimit,
            TokensPerPeriod = tokensPerPeriod,
            ReplenishmentPeriod = TimeSpan.FromHours(1),
            QueueLimit = queueLimit,
            QueueProcessingOrder = order,
            AutoReplenishment = false,
        });
}

public sealed class TokenBucketLimiterContractTests : RateLimiterContractTests
{
    // The fake clock never moves: the bucket never refills.
    private readonly FakeTimeProvider _time = FakeClock.Create();

    protected override RateLimiter Create(int tokenLimit, int tokensPerPeriod, int queueLimit, QueueProcessingOrder order) =>
        new TokenBucketLimiter(new TokenBucketLimiterOptions
        {
            TokenLimit = tokenLimit,
            TokensPerPeriod = tokensPerPeriod,
            ReplenishmentPeriod = TimeSpan.FromHours(1),
            QueueLimit = queueLimit,
            QueueProcessingOrder = order,
            TimeProvider = _time,
        });
}

public sealed class RequestRateLimiterContractTests : RateLimiterContractTests
{
    private readonly FakeTimeProvider _time = FakeClock.Create();

    // One permit an hour and no concurrency limit: the rate bucket is what the contract exercises.
    protected override RateLimiter Create(int tokenLimit, int tokensPerPeriod, int queueLimit, QueueProcessingOrder order) =>
        new RequestRateLimiter(new RequestRateLimiterOptions
        {
            PermitsPerSecond = 1.0 / 3600,
            Burst = tokenLimit,
            QueueLimit = queueLimit,
            QueueProcessingOrder = order,
            TimeProvider = _time,
        });
}
