using AsyncPatterns.Connections;
using AsyncPatterns.Connections.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace AsyncPatterns.Tests.Connections;

/// <summary>Every log event of the pool: its id, name and level, and the situation that writes it.</summary>
public sealed class ConnectionPoolLogTests : IDisposable
{
    private readonly FakeLogCollector _logs = new();
    private readonly ILoggerFactory _loggerFactory;

    public ConnectionPoolLogTests()
    {
        _loggerFactory = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(_logs)));
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _loggerFactory.Dispose();

    [Fact]
    public void EventIds_AreStable()
    {
        var logger = new FakeLogger();
        var error = new InvalidOperationException("boom");

        ConnectionPoolLog.LeakSuspected(logger, "p", TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1), "here");
        ConnectionPoolLog.CreateFailed(logger, "p", error);
        ConnectionPoolLog.DestroyFailed(logger, "p", error);
        ConnectionPoolLog.ResetFailed(logger, "p", error);
        ConnectionPoolLog.ValidateFailed(logger, "p", null);
        ConnectionPoolLog.DrainTimedOut(logger, "p", TimeSpan.FromSeconds(1), 3);
        ConnectionPoolLog.CleanupTimedOut(logger, "p", TimeSpan.FromSeconds(1));
        ConnectionPoolLog.BackgroundFailed(logger, "p", error);

        logger.Collector.GetSnapshot().Select(r => (r.Id.Id, r.Id.Name, r.Level)).Should().Equal(
            (1, "ConnectionLeakSuspected", LogLevel.Warning),
            (2, "BackgroundCreateFailed", LogLevel.Error),
            (3, "DestroyFailed", LogLevel.Warning),
            (4, "ResetFailed", LogLevel.Warning),
            (5, "ValidateFailed", LogLevel.Information),
            (6, "DrainTimedOut", LogLevel.Warning),
            (7, "CleanupTimedOut", LogLevel.Warning),
            (8, "BackgroundWorkFailed", LogLevel.Error));
        logger.Collector.GetSnapshot().Should().OnlyContain(r => r.Message.StartsWith("Connection pool 'p': ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ValidateAsync_ReturnsFalse_LogsValidateFailedWithoutException()
    {
        var time = FakeClock.Create();
        var options = Options(time);
        options.ValidateAfterIdle = TimeSpan.Zero;
        options.ValidateAsync = (c, _) => ValueTask.FromResult(c.Id != 1);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();

        await using var lease = await pool.AcquireAsync(Ct);

        lease.Connection.Id.Should().Be(2);
        var record = _logs.GetSnapshot().Should().ContainSingle().Which;
        record.Id.Name.Should().Be("ValidateFailed");
        record.Level.Should().Be(LogLevel.Information);
        record.Exception.Should().BeNull();
    }

    [Fact]
    public async Task ValidateAsync_Throws_LogsValidateFailedWithTheException()
    {
        var time = FakeClock.Create();
        var options = Options(time);
        options.ValidateAfterIdle = TimeSpan.Zero;
        options.ValidateAsync = (c, _) => c.Id == 1 ? throw new IOException("socket closed") : ValueTask.FromResult(true);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();

        await using var lease = await pool.AcquireAsync(Ct);

        lease.Connection.Id.Should().Be(2);
        var record = _logs.GetSnapshot().Should().ContainSingle().Which;
        record.Id.Name.Should().Be("ValidateFailed");
        record.Level.Should().Be(LogLevel.Information);
        record.Exception.Should().BeOfType<IOException>();
    }

    [Fact]
    public async Task ReturnAsync_ResetThrows_LogsResetFailedWithTheException()
    {
        var options = Options(FakeClock.Create());
        options.ResetAsync = (_, _) => throw new InvalidOperationException("rollback failed");
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);

        await (await pool.AcquireAsync(Ct)).DisposeAsync();

        var record = _logs.GetSnapshot().Should().ContainSingle().Which;
        record.Id.Name.Should().Be("ResetFailed");
        record.Level.Should().Be(LogLevel.Warning);
        record.Exception.Should().BeOfType<InvalidOperationException>();
        record.Category.Should().Be("AsyncPatterns.Connections.AsyncConnectionPool");
    }

    [Fact]
    public async Task Housekeeping_BackgroundRefillThrowsOutsideTheCreateHook_LogsBackgroundWorkFailedAndGivesTheSlotBack()
    {
        var time = FakeClock.Create();
        var logs = new FakeLogCollector();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(new FailingSinkLoggerProvider("BackgroundCreateFailed", logs)));
        var factory = new FakeConnectionFactory();
        factory.Next(_ => Task.CompletedTask);
        factory.Next(_ => throw new IOException("database starting up"));
        var options = factory.Options(time);
        options.MinSize = 2;
        options.LoggerFactory = loggerFactory;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var disposal = new ClockedDisposal(pool, time);

        // The failure is logged before the refill gives its slot back, on the refill's thread: wait for both.
        await FakeClock.WaitUntilAsync(() => logs.Count > 0 && pool.Statistics.Creating == 0, cancellationToken: Ct);

        var record = logs.GetSnapshot().Should().ContainSingle().Which;
        record.Id.Name.Should().Be("BackgroundWorkFailed");
        record.Level.Should().Be(LogLevel.Error);
        record.Exception.Should().NotBeNull();
        var statistics = pool.Statistics;
        statistics.Creating.Should().Be(0, "the slot reserved for the failed create is given back: {0}", statistics);
        statistics.Idle.Should().Be(1);

        // The next housekeeping pass (every 30 s here: a quarter of the 2-minute cap) refills, on the thread pool.
        await time.AdvanceAsync(TimeSpan.FromSeconds(30));
        await FakeClock.WaitUntilAsync(() => pool.Statistics.Idle == 2, cancellationToken: Ct);
        factory.CreateCalls.Should().Be(3);
    }

    [Fact]
    public async Task ReturnAsync_DestroyHookThrows_LogsDestroyFailedAndFreesTheSlot()
    {
        var factory = new FakeConnectionFactory();
        var options = factory.Options(FakeClock.Create(), maxSize: 1);
        options.LoggerFactory = _loggerFactory;
        options.DestroyAsync = _ => throw new IOException("close failed");
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        var lease = await pool.AcquireAsync(Ct);
        lease.Invalidate();

        await lease.DisposeAsync();

        var record = _logs.GetSnapshot().Should().ContainSingle().Which;
        record.Id.Name.Should().Be("DestroyFailed");
        record.Level.Should().Be(LogLevel.Warning);
        record.Exception.Should().BeOfType<IOException>();
        pool.Statistics.Destroying.Should().Be(0);
        await using var next = await pool.AcquireAsync(Ct);
        next.Connection.Id.Should().Be(2);
    }

    [Fact]
    public async Task DisposeAsync_LeaseNotReturnedWithinDrainTimeout_LogsDrainTimedOutWithTheCount()
    {
        var time = FakeClock.Create();
        var options = Options(time);
        options.DrainTimeout = TimeSpan.FromSeconds(10);
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        var lease = await pool.AcquireAsync(Ct);

        var disposing = pool.DisposeAsync().AsTask();
        await time.AdvanceUntilCompletedAsync(disposing, TimeSpan.FromSeconds(1));

        lease.IsActive.Should().BeFalse();
        var record = _logs.GetSnapshot().Should().ContainSingle().Which;
        record.Id.Name.Should().Be("DrainTimedOut");
        record.Level.Should().Be(LogLevel.Warning);
        record.Message.Should().Contain("1 leased connection(s)");
    }

    [Fact]
    public async Task DisposeAsync_DestroyHookStillRunningAfterDrainTimeout_LogsCleanupTimedOut()
    {
        var time = FakeClock.Create();
        var options = Options(time);
        options.DrainTimeout = TimeSpan.FromSeconds(10);
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        options.DestroyAsync = _ => new ValueTask(never.Task);
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();

        var disposing = pool.DisposeAsync().AsTask();
        await time.AdvanceUntilCompletedAsync(disposing, TimeSpan.FromSeconds(1), maxSteps: 30);

        var record = _logs.GetSnapshot().Should().ContainSingle().Which;
        record.Id.Name.Should().Be("CleanupTimedOut");
        record.Level.Should().Be(LogLevel.Warning);
        never.SetResult();
    }

    [Fact]
    public async Task ReturnAsync_IsUsableSaysNo_LogsValidateFailedWithoutException()
    {
        var options = Options(FakeClock.Create());
        var broken = false;
        options.IsUsable = _ => !Volatile.Read(ref broken);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        var lease = await pool.AcquireAsync(Ct);
        Volatile.Write(ref broken, true);

        await lease.DisposeAsync();

        var record = _logs.GetSnapshot().Should().ContainSingle().Which;
        record.Id.Name.Should().Be("ValidateFailed");
        record.Level.Should().Be(LogLevel.Information);
        record.Exception.Should().BeNull();
        pool.Statistics.TotalDestroyed.Should().Be(1);
    }

    public static TheoryData<string> EventsThatCanFailInTheSink => new()
    {
        "ConnectionLeakSuspected", "BackgroundCreateFailed", "DestroyFailed", "ResetFailed", "ValidateFailed", "DrainTimedOut", "CleanupTimedOut",
    };

    [Theory]
    [MemberData(nameof(EventsThatCanFailInTheSink))]
    public void LogEvent_SinkFailsForIt_ReportsBackgroundWorkFailedWithTheSinkError(string failingEvent)
    {
        var logs = new FakeLogCollector();
        using var provider = new FailingSinkLoggerProvider(failingEvent, logs);
        var logger = provider.CreateLogger("test");
        var error = new IOException("hook failed");

        ConnectionPoolLog.LeakSuspected(logger, "p", TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1), "here");
        ConnectionPoolLog.CreateFailed(logger, "p", error);
        ConnectionPoolLog.DestroyFailed(logger, "p", error);
        ConnectionPoolLog.ResetFailed(logger, "p", error);
        ConnectionPoolLog.ValidateFailed(logger, "p", null);
        ConnectionPoolLog.DrainTimedOut(logger, "p", TimeSpan.FromSeconds(1), 3);
        ConnectionPoolLog.CleanupTimedOut(logger, "p", TimeSpan.FromSeconds(1));

        var records = logs.GetSnapshot();
        records.Should().HaveCount(7, "each event is written or, when its write fails, reported in its place");
        var report = records.Should().ContainSingle(r => r.Id.Name == "BackgroundWorkFailed").Which;
        report.Level.Should().Be(LogLevel.Error);
        report.Exception.Should().BeOfType<InvalidOperationException>().Which.Message.Should().Be("the log sink is unavailable");
        records.Should().NotContain(r => r.Id.Name == failingEvent);
    }

    [Fact]
    public void BackgroundFailed_SinkFailsForThatEventToo_IsDropped()
    {
        var logs = new FakeLogCollector();
        using var provider = new FailingSinkLoggerProvider("BackgroundWorkFailed", logs);
        var logger = provider.CreateLogger("test");

        var act = () => ConnectionPoolLog.BackgroundFailed(logger, "p", new IOException("hook failed"));

        act.Should().NotThrow();
        logs.Count.Should().Be(0);
    }

    /// <summary>A log sink that fails when asked to write one particular event, and records every other one.</summary>
    private sealed class FailingSinkLoggerProvider(string failingEvent, FakeLogCollector logs) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new FailingSinkLogger(failingEvent, new FakeLogger(logs, categoryName));

        public void Dispose()
        {
        }

        private sealed class FailingSinkLogger(string failingEvent, FakeLogger inner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => inner.BeginScope(state);

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (eventId.Name == failingEvent)
                {
                    throw new InvalidOperationException("the log sink is unavailable");
                }

                inner.Log(logLevel, eventId, state, exception, formatter);
            }
        }
    }

    private ConnectionPoolOptions<FakeConnection> Options(Microsoft.Extensions.Time.Testing.FakeTimeProvider time)
    {
        var options = new FakeConnectionFactory().Options(time);
        options.LoggerFactory = _loggerFactory;
        return options;
    }
}
