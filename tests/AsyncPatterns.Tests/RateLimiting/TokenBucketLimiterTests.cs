using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.Tests.RateLimiting;

public sealed class TokenBucketLimiterTests
{
    private readonly FakeTimeProvider _time = FakeClock.Create();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private TokenBucketLimiter Create(int tokenLimit = 1, int tokensPerPeriod = 1, TimeSpan? period = null, int queueLimit = 0,
        QueueProcessingOrder order = QueueProcessingOrder.OldestFirst) =>
        new(new TokenBucketLimiterOptions
        {
            TokenLimit = tokenLimit,
            TokensPerPeriod = tokensPerPeriod,
            ReplenishmentPeriod = period ?? TimeSpan.FromSeconds(1),
            QueueLimit = queueLimit,
            QueueProcessingOrder = order,
            TimeProvider = _time,
        });

    private static TimeSpan RetryAfter(RateLimitLease lease)
    {
        lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter).Should().BeTrue("a failed lease of a token bucket says when to retry");
        return retryAfter;
    }

    [Fact]
    public void AttemptAcquire_HalfAPeriodLater_RefillsHalfAToken()
    {
        using var limiter = Create(tokenLimit: 2, tokensPerPeriod: 2);
        limiter.AttemptAcquire(2).IsAcquired.Should().BeTrue();

        _time.Advance(TimeSpan.FromMilliseconds(499));
        limiter.AttemptAcquire(1).IsAcquired.Should().BeFalse("2 tokens a second make 0.998 tokens in 499 ms");

        _time.Advance(TimeSpan.FromMilliseconds(1));
        limiter.AttemptAcquire(1).IsAcquired.Should().BeTrue("2 tokens a second make exactly 1 token in 500 ms");
    }

    [Fact]
    public void AttemptAcquire_ManyUnevenSteps_RefillsWithoutDrift()
    {
        // One token per 300 ms, polled every 7 ms for 21 s: 3000 fractional refills must add up to exactly 70 tokens.
        // The bucket (10) never fills up again, so no refill is clipped.
        using var limiter = Create(tokenLimit: 10, period: TimeSpan.FromMilliseconds(300));
        var acquired = 0;
        for (var step = 0; step <= 3000; step++)
        {
            using var lease = limiter.AttemptAcquire(1);
            acquired += lease.IsAcquired ? 1 : 0;
            _time.Advance(TimeSpan.FromMilliseconds(7));
        }

        // The 10 tokens it starts with, then one per 300 ms for 21 s.
        acquired.Should().Be(80);
    }

    [Fact]
    public void AttemptAcquire_Empty_RetryAfterIsTheTimeUntilTheTokenExists()
    {
        using var limiter = Create();
        limiter.AttemptAcquire(1).IsAcquired.Should().BeTrue();
        _time.Advance(TimeSpan.FromMilliseconds(250));

        using var lease = limiter.AttemptAcquire(1);

        lease.IsAcquired.Should().BeFalse();
        RetryAfter(lease).Should().Be(TimeSpan.FromMilliseconds(750), "the BCL would say a whole period; the truth is 750 ms");
    }

    [Fact]
    public async Task AcquireAsync_Queued_CompletesExactlyWhenTheTokenExists()
    {
        using var limiter = Create(queueLimit: 1);
        limiter.AttemptAcquire(1).IsAcquired.Should().BeTrue();
        var waiting = limiter.AcquireAsync(1, Ct).AsTask();

        _time.Advance(TimeSpan.FromMilliseconds(999));
        waiting.IsCompleted.Should().BeFalse();

        _time.Advance(TimeSpan.FromMilliseconds(1));
        waiting.IsCompleted.Should().BeTrue();
        (await waiting).IsAcquired.Should().BeTrue();
    }

    [Fact]
    public async Task AcquireAsync_OldestFirst_ServesWaitersInArrivalOrderOnePerToken()
    {
        using var limiter = Create(queueLimit: 3);
        limiter.AttemptAcquire(1).IsAcquired.Should().BeTrue();
        var waiters = Enumerable.Range(0, 3).Select(_ => limiter.AcquireAsync(1, Ct).AsTask()).ToArray();

        for (var i = 0; i < waiters.Length; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            waiters.Select(w => w.IsCompleted).Should().Equal(Enumerable.Range(0, 3).Select(j => j <= i), "after {0} s", i + 1);
        }

        foreach (var waiter in waiters)
        {
            (await waiter).IsAcquired.Should().BeTrue();
        }
    }

    [Fact]
    public async Task AcquireAsync_NewestFirst_ServesTheNewestWaiterFirst()
    {
        using var limiter = Create(queueLimit: 3, order: QueueProcessingOrder.NewestFirst);
        limiter.AttemptAcquire(1).IsAcquired.Should().BeTrue();
        var waiters = Enumerable.Range(0, 3).Select(_ => limiter.AcquireAsync(1, Ct).AsTask()).ToArray();

        _time.Advance(TimeSpan.FromSeconds(1));
        waiters.Select(w => w.IsCompleted).Should().Equal(false, false, true);

        _time.Advance(TimeSpan.FromSeconds(1));
        waiters.Select(w => w.IsCompleted).Should().Equal(false, true, true);
        (await waiters[2]).IsAcquired.Should().BeTrue();
    }

    [Fact]
    public async Task AcquireAsync_BigRequestAtTheHeadCancelled_ServesTheSmallerOneBehindAtOnce()
    {
        using var limiter = Create(tokenLimit: 3, tokensPerPeriod: 3, queueLimit: 5);
        limiter.AttemptAcquire(3).IsAcquired.Should().BeTrue();
        _time.Advance(TimeSpan.FromMilliseconds(500)); // 1.5 tokens
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var big = limiter.AcquireAsync(3, cts.Token).AsTask();
        var small = limiter.AcquireAsync(1, Ct).AsTask();
        small.IsCompleted.Should().BeFalse("it waits behind the big request");

        await cts.CancelAsync();

        await big.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>();
        small.IsCompleted.Should().BeTrue("1.5 tokens are there once the big request is gone");
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(0, "0.5 tokens are left");
    }

    [Fact]
    public async Task AcquireAsync_CancelledWaiter_DoesNotConsumeItsToken()
    {
        using var limiter = Create(queueLimit: 2);
        limiter.AttemptAcquire(1).IsAcquired.Should().BeTrue();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var cancelled = limiter.AcquireAsync(1, cts.Token).AsTask();
        var behind = limiter.AcquireAsync(1, Ct).AsTask();

        await cts.CancelAsync();
        _time.Advance(TimeSpan.FromSeconds(1));

        behind.IsCompleted.Should().BeTrue("the token the cancelled waiter would have had goes to the one behind it");
        cancelled.IsCanceled.Should().BeTrue();
        (await behind).IsAcquired.Should().BeTrue();
    }

    [Fact]
    public async Task Dispose_WithQueuedWaiters_FailsThemWithObjectDisposedException()
    {
        var limiter = Create(queueLimit: 2);
        limiter.AttemptAcquire(1).IsAcquired.Should().BeTrue();
        var waiting = limiter.AcquireAsync(1, Ct).AsTask();

        await limiter.DisposeAsync();

        await waiting.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ObjectDisposedException>();
        _time.Advance(TimeSpan.FromSeconds(5)); // the disposed timer must not fire into the disposed limiter
    }

    [Fact]
    public void AttemptAcquire_IdleForAnHour_HandsOutAtMostTheTokenLimit()
    {
        using var limiter = Create(tokenLimit: 3, tokensPerPeriod: 10);
        limiter.AttemptAcquire(3).IsAcquired.Should().BeTrue();

        _time.Advance(TimeSpan.FromHours(1));

        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(3);
        limiter.AttemptAcquire(3).IsAcquired.Should().BeTrue();
        using var lease = limiter.AttemptAcquire(1);
        lease.IsAcquired.Should().BeFalse();
        RetryAfter(lease).Should().Be(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void IdleDuration_CountsFromTheMomentTheBucketWasFull()
    {
        using var limiter = Create(tokenLimit: 2, tokensPerPeriod: 1);
        _time.Advance(TimeSpan.FromSeconds(1));
        limiter.IdleDuration.Should().Be(TimeSpan.FromSeconds(1));

        limiter.AttemptAcquire(1).IsAcquired.Should().BeTrue();
        limiter.IdleDuration.Should().BeNull();

        _time.Advance(TimeSpan.FromMilliseconds(1500)); // full again after 1 s
        limiter.IdleDuration.Should().Be(TimeSpan.FromMilliseconds(500));
    }

    [Fact]
    public void ReplenishingMembers_DescribeAnAutoReplenishingBucket()
    {
        using var limiter = Create(period: TimeSpan.FromMilliseconds(250));

        limiter.IsAutoReplenishing.Should().BeTrue();
        limiter.ReplenishmentPeriod.Should().Be(TimeSpan.FromMilliseconds(250));
        limiter.TryReplenish().Should().BeFalse();
    }

    public static TheoryData<Action<TokenBucketLimiterOptions>, string> BadOptions => new()
    {
        { o => o.TokenLimit = 0, "TokenBucketLimiterOptions.TokenLimit must be at least 1 (was 0)." },
        { o => o.TokenLimit = int.MinValue, $"TokenBucketLimiterOptions.TokenLimit must be at least 1 (was {int.MinValue})." },
        { o => o.TokensPerPeriod = 0, "TokenBucketLimiterOptions.TokensPerPeriod must be at least 1 (was 0)." },
        { o => o.TokensPerPeriod = -1, "TokenBucketLimiterOptions.TokensPerPeriod must be at least 1 (was -1)." },
        { o => o.ReplenishmentPeriod = TimeSpan.Zero, "TokenBucketLimiterOptions.ReplenishmentPeriod must be positive (was 00:00:00)." },
        { o => o.ReplenishmentPeriod = TimeSpan.FromSeconds(-1), "TokenBucketLimiterOptions.ReplenishmentPeriod must be positive (was -00:00:01)." },
        { o => o.ReplenishmentPeriod = TimeSpan.MinValue, "TokenBucketLimiterOptions.ReplenishmentPeriod must be positive (was -10675199.02:48:05.4775808)." },
        { o => o.QueueLimit = -1, "TokenBucketLimiterOptions.QueueLimit must be zero or more (was -1)." },
        { o => o.QueueProcessingOrder = (QueueProcessingOrder)7, "TokenBucketLimiterOptions.QueueProcessingOrder must be QueueProcessingOrder.OldestFirst or QueueProcessingOrder.NewestFirst (was 7)." },
        { o => o.TimeProvider = null!, "TokenBucketLimiterOptions.TimeProvider must be set (was null)." },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Constructor_InvalidOption_ThrowsNamingOptionsWithTheRulesMessage(Action<TokenBucketLimiterOptions> breakIt, string expected)
    {
        var options = new TokenBucketLimiterOptions();
        breakIt(options);

        FluentActions.Invoking(() => new TokenBucketLimiter(options)).Should().Throw<ArgumentException>()
            .WithParameterName("options").WithMessage(expected + " (Parameter 'options')");
    }

    [Fact]
    public void Constructor_SeveralBrokenRules_ListsEveryOneInOneMessage()
    {
        var options = new TokenBucketLimiterOptions { TokenLimit = 0, QueueLimit = -5 };

        FluentActions.Invoking(() => new TokenBucketLimiter(options)).Should().Throw<ArgumentException>()
            .WithParameterName("options")
            .WithMessage("TokenBucketLimiterOptions.TokenLimit must be at least 1 (was 0). TokenBucketLimiterOptions.QueueLimit must be zero or more (was -5). (Parameter 'options')");
    }

    [Fact]
    public void Constructor_NullOptions_ThrowsArgumentNullException()
    {
        var act = () => new TokenBucketLimiter((TokenBucketLimiterOptions)null!);
        act.Should().Throw<ArgumentNullException>().WithParameterName("options");
    }
}
