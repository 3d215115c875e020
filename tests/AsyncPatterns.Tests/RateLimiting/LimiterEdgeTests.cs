using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.Tests.RateLimiting;

/// <summary>Edge cases shared by both limiters: zero-permit requests, idle time, waits longer than a timer can hold.</summary>
public sealed class LimiterEdgeTests
{
    private readonly FakeTimeProvider _time = FakeClock.Create();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private TokenBucketLimiter Bucket(int tokenLimit = 1, TimeSpan? period = null, int queueLimit = 1, TimeProvider? time = null) =>
        new(new TokenBucketLimiterOptions
        {
            TokenLimit = tokenLimit,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = period ?? TimeSpan.FromSeconds(1),
            QueueLimit = queueLimit,
            TimeProvider = time ?? _time,
        });

    [Fact]
    public void AttemptAcquire_ZeroPermitsOnAnEmptyBucket_FailsWithTheTimeUntilOneToken()
    {
        using var limiter = Bucket();
        limiter.AttemptAcquire(1).IsAcquired.Should().BeTrue();
        _time.Advance(TimeSpan.FromMilliseconds(400));

        using var lease = limiter.AttemptAcquire(0);

        lease.IsAcquired.Should().BeFalse();
        lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter).Should().BeTrue();
        retryAfter.Should().Be(TimeSpan.FromMilliseconds(600));
    }

    [Fact]
    public async Task AcquireAsync_ZeroPermitsOnAnEmptyBucket_CompletesWhenATokenExistsWithoutTakingIt()
    {
        using var limiter = Bucket();
        limiter.AttemptAcquire(1).IsAcquired.Should().BeTrue();

        var waiting = limiter.AcquireAsync(0, Ct).AsTask();
        _time.Advance(TimeSpan.FromMilliseconds(999));
        waiting.IsCompleted.Should().BeFalse();
        _time.Advance(TimeSpan.FromMilliseconds(1));

        waiting.IsCompleted.Should().BeTrue("the timer wakes a zero-permit waiter when one token exists");
        (await waiting).IsAcquired.Should().BeTrue();
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(1, "a zero-permit lease takes nothing");
    }

    [Fact]
    public async Task AcquireAsync_WaiterShortOfConcurrencyOnly_IsServedByTheReleaseNotByTheClock()
    {
        using var limiter = new RequestRateLimiter(new RequestRateLimiterOptions
        {
            MaxConcurrency = 1, PermitsPerSecond = 10, Burst = 5, TimeProvider = _time,
        });
        var held = await limiter.AcquireAsync(Ct);
        var waiting = limiter.AcquireAsync(Ct).AsTask();

        // The rate has tokens to spare: only the concurrency permit is missing, and no amount of time brings it.
        for (var i = 0; i < 10; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        waiting.IsCompleted.Should().BeFalse();
        limiter.GetStatistics()!.CurrentQueuedCount.Should().Be(1);
        held.Dispose();
        waiting.IsCompleted.Should().BeTrue();
        (await waiting).IsAcquired.Should().BeTrue();
    }

    [Fact]
    public async Task IdleDuration_ConcurrencyOnly_CountsFromTheLastRelease()
    {
        using var limiter = new RequestRateLimiter(new RequestRateLimiterOptions { MaxConcurrency = 2, TimeProvider = _time });
        _time.Advance(TimeSpan.FromSeconds(3));
        limiter.IdleDuration.Should().Be(TimeSpan.FromSeconds(3));

        var first = await limiter.AcquireAsync(Ct);
        var second = await limiter.AcquireAsync(Ct);
        _time.Advance(TimeSpan.FromSeconds(10));
        first.Dispose();
        limiter.IdleDuration.Should().BeNull("a permit is still held");

        _time.Advance(TimeSpan.FromSeconds(10));
        second.Dispose();
        _time.Advance(TimeSpan.FromSeconds(5));

        limiter.IdleDuration.Should().Be(TimeSpan.FromSeconds(5), "idle since the last permit came back");
    }

    [Fact]
    public void AttemptAcquire_WaitLongerThanTimeSpanCanHold_RetryAfterSaturatesAtTheMaximum()
    {
        using var limiter = Bucket(tokenLimit: 2, period: TimeSpan.MaxValue);
        limiter.AttemptAcquire(2).IsAcquired.Should().BeTrue();

        using var lease = limiter.AttemptAcquire(2);

        lease.IsAcquired.Should().BeFalse();
        lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter).Should().BeTrue();
        retryAfter.Should().Be(TimeSpan.MaxValue, "two tokens take twice the longest TimeSpan");
    }

    [Fact]
    public async Task AcquireAsync_WaitLongerThanASystemTimerCanHold_QueuesAndIsCancellable()
    {
        // A system timer holds at most about 49.7 days; a bucket of one token per 30 days asked for two waits 60.
        using var limiter = Bucket(tokenLimit: 2, period: TimeSpan.FromDays(30), queueLimit: 2, time: TimeProvider.System);
        limiter.AttemptAcquire(2).IsAcquired.Should().BeTrue();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var waiting = limiter.AcquireAsync(2, cts.Token).AsTask();

        waiting.IsCompleted.Should().BeFalse();
        await cts.CancelAsync();
        await waiting.Invoking(w => w.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>();
    }

    [Fact]
    public async Task AcquireAsync_WaitLongerThanASystemTimerCanHold_IsServedWhenTheTokensExist()
    {
        using var limiter = Bucket(tokenLimit: 2, period: TimeSpan.FromDays(30), queueLimit: 2);
        limiter.AttemptAcquire(2).IsAcquired.Should().BeTrue();

        var waiting = limiter.AcquireAsync(2, Ct).AsTask();
        _time.Advance(TimeSpan.FromDays(50)); // the timer fires after 49.7 days, finds the tokens short and re-arms
        waiting.IsCompleted.Should().BeFalse();
        _time.Advance(TimeSpan.FromDays(10) - TimeSpan.FromSeconds(1));
        waiting.IsCompleted.Should().BeFalse();
        _time.Advance(TimeSpan.FromSeconds(1));

        waiting.IsCompleted.Should().BeTrue();
        (await waiting).IsAcquired.Should().BeTrue();
    }

    [Fact]
    public void AttemptAcquire_ZeroPermitProbe_DoesNotResetTheIdleTime()
    {
        using var limiter = Bucket();
        _time.Advance(TimeSpan.FromSeconds(5));

        limiter.AttemptAcquire(0).IsAcquired.Should().BeTrue();
        _time.Advance(TimeSpan.FromSeconds(1));

        limiter.IdleDuration.Should().Be(TimeSpan.FromSeconds(6), "a probe takes nothing");
    }

    [Fact]
    public async Task AcquireAsync_OneRefillCoversTwoWaiters_CompletesBoth()
    {
        using var limiter = new TokenBucketLimiter(new TokenBucketLimiterOptions
        {
            TokenLimit = 2, TokensPerPeriod = 2, ReplenishmentPeriod = TimeSpan.FromSeconds(1), QueueLimit = 2, TimeProvider = _time,
        });
        limiter.AttemptAcquire(2).IsAcquired.Should().BeTrue();
        var first = limiter.AcquireAsync(1, Ct).AsTask();
        var second = limiter.AcquireAsync(1, Ct).AsTask();

        _time.Advance(TimeSpan.FromSeconds(1));

        first.IsCompleted.Should().BeTrue();
        second.IsCompleted.Should().BeTrue("the same refill covers both");
        (await first).IsAcquired.Should().BeTrue();
        (await second).IsAcquired.Should().BeTrue();
    }

    [Fact]
    public void AttemptAcquire_ConcurrencyOnly_GrantsSeveralPermitsAtOnceWhateverTheBurst()
    {
        using var limiter = new RequestRateLimiter(new RequestRateLimiterOptions { MaxConcurrency = 4, Burst = 1, TimeProvider = _time });

        using var lease = limiter.AttemptAcquire(3);

        lease.IsAcquired.Should().BeTrue("without a rate, the burst does not limit a request");
    }
}
