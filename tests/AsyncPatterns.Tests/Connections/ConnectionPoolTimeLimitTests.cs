using AsyncPatterns.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.Tests.Connections;

/// <summary>
/// MaxLifetime, IdleTimeout and LeakDetectionThreshold at their exact edges: a limit is reached when the elapsed
/// time equals it (the pool compares with <c>&gt;=</c>).
/// </summary>
public sealed class ConnectionPoolTimeLimitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AcquireAsync_IdleConnectionExactlyAtMaxLifetimeBetweenHousekeepingPasses_IsNotHandedOut()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.MaxLifetime = TimeSpan.FromMinutes(10); // housekeeping every 30 seconds from the pool's start
        options.IdleTimeout = Timeout.InfiniteTimeSpan;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await time.AdvanceAsync(TimeSpan.FromSeconds(70));
        await (await pool.AcquireAsync(Ct)).DisposeAsync(); // created at 1:10, expires at 11:10

        await time.AdvanceAsync(TimeSpan.FromSeconds(590)); // 11:00: a housekeeping pass finds it still alive
        time.Advance(TimeSpan.FromSeconds(10)); // 11:10, between two passes: the acquire must check expiry itself
        await using var lease = await pool.AcquireAsync(Ct);

        lease.Connection.Id.Should().Be(2);
        await FakeClock.WaitUntilAsync(() => factory.Created.First().Disposed, cancellationToken: Ct);
    }

    [Fact]
    public async Task Housekeeping_IdleConnectionExactlyAtMaxLifetime_IsRetired()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.MaxLifetime = TimeSpan.FromMinutes(10); // housekeeping every 30 seconds, so also at 10 minutes
        options.IdleTimeout = Timeout.InfiniteTimeSpan;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await (await pool.AcquireAsync(Ct)).DisposeAsync(); // created at 0, expires at 10 min

        await time.AdvanceAsync(TimeSpan.FromMinutes(10) - TimeSpan.FromTicks(1));
        pool.Statistics.Idle.Should().Be(1);
        await time.AdvanceAsync(TimeSpan.FromTicks(1));

        pool.Statistics.Idle.Should().Be(0);
        pool.Statistics.TotalDestroyed.Should().Be(1);
        await FakeClock.WaitUntilAsync(() => factory.Created.First().Disposed, cancellationToken: Ct);
    }

    [Fact]
    public async Task ReturnAsync_ConnectionExactlyAtMaxLifetime_IsDestroyedWithoutBeingReset()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.MaxLifetime = TimeSpan.FromMinutes(10);
        var resets = 0;
        options.ResetAsync = (_, _) =>
        {
            resets++;
            return ValueTask.CompletedTask;
        };
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        var lease = await pool.AcquireAsync(Ct);
        var connection = lease.Connection;

        time.Advance(TimeSpan.FromMinutes(10));
        await lease.DisposeAsync();

        resets.Should().Be(0, "an expired connection is destroyed, not cleaned for reuse");
        connection.Disposed.Should().BeTrue();
        pool.Statistics.Idle.Should().Be(0);
    }

    [Fact]
    public async Task ReturnAsync_MaxLifetimeReachedExactlyWhileResetRuns_DestroysTheConnection()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.MaxLifetime = TimeSpan.FromMinutes(10);
        options.IdleTimeout = Timeout.InfiniteTimeSpan;
        var resetting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        options.ResetAsync = async (_, _) => await resetting.Task;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        var lease = await pool.AcquireAsync(Ct);
        var connection = lease.Connection;
        time.Advance(TimeSpan.FromMinutes(9));

        var returning = lease.DisposeAsync().AsTask();
        time.Advance(TimeSpan.FromMinutes(1)); // exactly MaxLifetime when the reset finishes
        resetting.SetResult();
        await returning.WaitAsync(FakeClock.HangTimeout, Ct);

        connection.Disposed.Should().BeTrue();
        pool.Statistics.Idle.Should().Be(0);
        pool.Statistics.TotalDestroyed.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_InfiniteMaxLifetimeAndIdleTimeout_KeepsReusingTheSameConnection()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.MaxLifetime = Timeout.InfiniteTimeSpan;
        options.IdleTimeout = Timeout.InfiniteTimeSpan;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();

        await time.AdvanceAsync(TimeSpan.FromDays(3));
        await using var lease = await pool.AcquireAsync(Ct);

        lease.Connection.Id.Should().Be(1);
        pool.Statistics.TotalDestroyed.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_TimestampFrequencyOtherThanTicks_MeasuresMaxLifetimeInRealTime()
    {
        var fake = FakeClock.Create();
        var time = new FastTimestampTimeProvider(fake);
        var factory = new FakeConnectionFactory();
        var options = factory.Options(fake);
        options.TimeProvider = time;
        options.MaxLifetime = TimeSpan.FromMinutes(10);
        options.IdleTimeout = Timeout.InfiniteTimeSpan;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();

        fake.Advance(TimeSpan.FromMinutes(9));
        var lease = await pool.AcquireAsync(Ct);
        var id = lease.Connection.Id;
        await lease.DisposeAsync();
        id.Should().Be(1, "9 minutes is within the 10-minute lifetime");

        fake.Advance(TimeSpan.FromMinutes(1));
        await using var later = await pool.AcquireAsync(Ct);
        later.Connection.Id.Should().Be(2);
    }

    [Fact]
    public async Task Housekeeping_ConnectionIdleExactlyIdleTimeout_IsEvicted()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.IdleTimeout = TimeSpan.FromMinutes(1); // housekeeping every 15 seconds
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();

        await time.AdvanceAsync(TimeSpan.FromSeconds(45));
        pool.Statistics.Idle.Should().Be(1);
        await time.AdvanceAsync(TimeSpan.FromSeconds(15));

        pool.Statistics.Idle.Should().Be(0);
        pool.Statistics.TotalDestroyed.Should().Be(1);
    }

    [Fact]
    public async Task Housekeeping_LeaseHeldExactlyLeakDetectionThreshold_LogsItsWarningWithSourceLocation()
    {
        var time = FakeClock.Create();
        var logs = new FakeLogCollector();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(logs)));
        var options = new FakeConnectionFactory().Options(time);
        options.LeakDetectionThreshold = TimeSpan.FromSeconds(10); // housekeeping every 2.5 seconds
        options.LoggerFactory = loggerFactory;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var lease = await pool.AcquireAsync(Ct);

        await time.AdvanceAsync(TimeSpan.FromSeconds(7.5));
        logs.Count.Should().Be(0);
        await time.AdvanceAsync(TimeSpan.FromSeconds(2.5));

        var warning = logs.GetSnapshot().Should().ContainSingle().Which;
        warning.Id.Name.Should().Be("ConnectionLeakSuspected");
        warning.Message.Should().Contain(nameof(ConnectionPoolTimeLimitTests) + ".cs:line ");
    }

    [Fact]
    public async Task Housekeeping_TwoLeasesHeldTooLong_LogsAWarningForEach()
    {
        var time = FakeClock.Create();
        var logs = new FakeLogCollector();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(logs)));
        var options = new FakeConnectionFactory().Options(time);
        options.LeakDetectionThreshold = TimeSpan.FromSeconds(10);
        options.LoggerFactory = loggerFactory;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var first = await pool.AcquireAsync(Ct);
        await using var second = await pool.AcquireAsync(Ct);

        await time.AdvanceAsync(TimeSpan.FromSeconds(10));

        logs.GetSnapshot().Should().HaveCount(2).And.OnlyContain(r => r.Id.Name == "ConnectionLeakSuspected");
    }

    [Fact]
    public async Task AcquireAsync_OnlyValidateAfterIdleSet_ValidatesOnlyAConnectionIdleThatLong()
    {
        var time = FakeClock.Create();
        var validations = 0;
        var options = new FakeConnectionFactory().Options(time);
        options.MaxLifetime = Timeout.InfiniteTimeSpan;
        options.IdleTimeout = Timeout.InfiniteTimeSpan;
        options.ValidateAfterIdle = TimeSpan.FromSeconds(1);
        options.ValidateAsync = (_, _) =>
        {
            Interlocked.Increment(ref validations);
            return ValueTask.FromResult(true);
        };
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var disposal = new ClockedDisposal(pool, time);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();

        await (await pool.AcquireAsync(Ct)).DisposeAsync();
        validations.Should().Be(0, "the connection was returned less than ValidateAfterIdle ago");
        time.Advance(TimeSpan.FromSeconds(1));
        await using var lease = await pool.AcquireAsync(Ct);

        validations.Should().Be(1, "the connection has been idle for ValidateAfterIdle");
        lease.Connection.Id.Should().Be(1);
    }

    [Fact]
    public async Task Housekeeping_OnlyLeakDetectionThresholdSet_ReportsALeaseTakenFromTheIdleStack()
    {
        var time = FakeClock.Create();
        var logs = new FakeLogCollector();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(logs)));
        var options = new FakeConnectionFactory().Options(time);
        options.MaxLifetime = Timeout.InfiniteTimeSpan;
        options.IdleTimeout = Timeout.InfiniteTimeSpan;
        options.LeakDetectionThreshold = TimeSpan.FromSeconds(10); // housekeeping every 2.5 seconds
        options.LoggerFactory = loggerFactory;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var disposal = new ClockedDisposal(pool, time);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();
        await using var lease = await pool.AcquireAsync(Ct); // the idle connection, not a new one

        await time.AdvanceAsync(TimeSpan.FromSeconds(7.5));
        logs.Count.Should().Be(0);
        await time.AdvanceAsync(TimeSpan.FromSeconds(2.5));

        lease.Connection.Id.Should().Be(1);
        logs.GetSnapshot().Should().ContainSingle().Which.Id.Name.Should().Be("ConnectionLeakSuspected");
    }

    [Fact]
    public async Task Housekeeping_OnlyIdleTimeoutSet_EvictsTheIdleConnection()
    {
        var time = FakeClock.Create();
        var options = new FakeConnectionFactory().Options(time);
        options.MaxLifetime = Timeout.InfiniteTimeSpan;
        options.IdleTimeout = TimeSpan.FromMinutes(1); // housekeeping every 15 seconds
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();

        await time.AdvanceAsync(TimeSpan.FromSeconds(45));
        pool.Statistics.Idle.Should().Be(1);
        await time.AdvanceAsync(TimeSpan.FromSeconds(15));

        pool.Statistics.Idle.Should().Be(0);
        pool.Statistics.TotalDestroyed.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_UnusableIdleConnectionWithNoTimeLimits_ReplacesItWithinTheAcquireTimeout()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.MaxLifetime = Timeout.InfiniteTimeSpan;
        options.IdleTimeout = Timeout.InfiniteTimeSpan;
        options.CreateAsync = ct =>
        {
            ct.ThrowIfCancellationRequested(); // a create given no time left fails at once
            return factory.CreateAsync(ct);
        };
        var broken = false;
        options.IsUsable = _ => !Volatile.Read(ref broken);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var disposal = new ClockedDisposal(pool, time);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();
        Volatile.Write(ref broken, true);

        // The replacement is created within the 30-second acquire timeout that has just begun, not after it.
        await using var lease = await pool.AcquireAsync(Ct);

        lease.Connection.Id.Should().Be(2);
        factory.Created.First().Disposed.Should().BeTrue();
    }

    /// <summary>A clock whose timestamps tick three times per <see cref="TimeSpan"/> tick, like a high-resolution Stopwatch.</summary>
    private sealed class FastTimestampTimeProvider(FakeTimeProvider inner) : TimeProvider
    {
        private const long Factor = 3;

        public override long TimestampFrequency => inner.TimestampFrequency * Factor;

        public override long GetTimestamp() => inner.GetTimestamp() * Factor;

        public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

        public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            inner.CreateTimer(callback, state, dueTime, period);
    }
}
