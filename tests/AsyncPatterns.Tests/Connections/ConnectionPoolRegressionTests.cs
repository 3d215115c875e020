using System.Diagnostics.Metrics;
using AsyncPatterns.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace AsyncPatterns.Tests.Connections;

/// <summary>
/// Broken promises found by outside referees (a real PostgreSQL server, adversarial repros), each named after what broke:
/// a dead connection handed on, a refill outliving disposal, a throwing logger or hook ending the process or the disposal.
/// </summary>
public sealed class ConnectionPoolRegressionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task DbConnectionPool_ConnectionClosedInsideTheLease_IsDestroyedAndTheNextLeaseIsOpen()
    {
        var connections = new List<FakeDbConnection>();
        await using var pool = DbConnectionPool.Create(
            () =>
            {
                var c = new FakeDbConnection();
                connections.Add(c);
                return c;
            },
            o => o.ValidateAfterIdle = Timeout.InfiniteTimeSpan);

        await using (var lease = await pool.AcquireAsync(Ct))
        {
            await lease.Connection.CloseAsync(); // the caller closes it, or the server killed it and the provider noticed
        }

        await using var next = await pool.AcquireAsync(Ct);

        next.Connection.State.Should().Be(System.Data.ConnectionState.Open);
        next.Connection.Should().NotBeSameAs(connections[0]);
        connections[0].DisposeCount.Should().Be(1, "a closed connection is destroyed on return, not pooled");
    }

    [Fact]
    public async Task DbConnectionPool_IdleConnectionBrokenWhileIdle_IsNotLeasedEvenBeforeValidateAfterIdle()
    {
        var connections = new List<FakeDbConnection>();
        await using var pool = DbConnectionPool.Create(
            () =>
            {
                var c = new FakeDbConnection();
                connections.Add(c);
                return c;
            },
            o => o.ValidateAfterIdle = Timeout.InfiniteTimeSpan);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();
        connections[0].Break();

        await using var next = await pool.AcquireAsync(Ct);

        next.Connection.State.Should().Be(System.Data.ConnectionState.Open);
        connections.Should().HaveCount(2);
        connections[0].DisposeCount.Should().Be(1);
        connections[0].Executed.Should().BeEmpty("the check needs no round trip");
    }

    [Fact]
    public async Task AcquireAsync_ValidationInterruptedByTheCallersCancellation_NextWaiterGetsAValidatedConnection()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time, maxSize: 1);
        options.ValidateAfterIdle = TimeSpan.FromSeconds(1);
        var validating = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var validations = 0;
        options.ValidateAsync = async (c, token) =>
        {
            if (Interlocked.Increment(ref validations) == 1)
            {
                validating.SetResult();
                await Task.Delay(Timeout.InfiniteTimeSpan, token); // still checking when the caller gives up
            }

            return c.Id != 1; // connection 1 is dead
        };
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var disposal = new ClockedDisposal(pool, time);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();
        await time.AdvanceAsync(TimeSpan.FromSeconds(2));

        using var first = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var cancelled = pool.AcquireAsync(first.Token).AsTask();
        await validating.Task.WaitAsync(FakeClock.HangTimeout, Ct);
        var next = pool.AcquireAsync(Ct).AsTask();
        await first.CancelAsync();

        await cancelled.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>();
        await using var lease = await next.WaitAsync(FakeClock.HangTimeout, Ct);
        lease.Connection.Id.Should().Be(2, "connection 1 was never validated, so the next caller checks it and gets a new one");
        validations.Should().Be(2);
        factory.Created.First().Disposed.Should().BeTrue();
    }

    [Fact]
    public async Task DisposeAsync_MinSizeRefillWithACreateHookThatIgnoresItsToken_StopsCreating()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        factory.Next(_ =>
        {
            started.TrySetResult();
            return gate.Task; // ignores the token
        });
        var options = factory.Options(time, maxSize: 8);
        options.MinSize = 8;
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        await started.Task.WaitAsync(FakeClock.HangTimeout, Ct);

        var disposing = pool.DisposeAsync().AsTask();
        gate.SetResult();

        // Disposal waits for the refill (no fake time passes, so no drain timeout cuts it short).
        await disposing.WaitAsync(FakeClock.HangTimeout, Ct);
        factory.CreateCalls.Should().Be(1, "no connection is created once disposal has begun");
        factory.Created.Should().ContainSingle().Which.Disposed.Should().BeTrue();
        pool.Statistics.Should().BeEquivalentTo(new { Idle = 0, Busy = 0, Creating = 0, Destroying = 0 });
    }

    [Fact]
    public async Task Housekeeping_LeakWarningWithAThrowingLogger_NeitherCrashesNorStopsHousekeeping()
    {
        var time = FakeClock.Create();
        var logs = new FakeLogCollector();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(new ThrowingLoggerProvider("ConnectionLeakSuspected", logs)));
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time, maxSize: 2);
        options.LeakDetectionThreshold = TimeSpan.FromSeconds(1);
        options.IdleTimeout = TimeSpan.FromSeconds(2);
        options.LoggerFactory = loggerFactory;
        var unobserved = 0;
        void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            // Other tests run in parallel in the same process: count only the failure of this test's logger.
            if (e.Exception.ToString().Contains(ThrowingLoggerProvider.Failure, StringComparison.Ordinal))
            {
                Interlocked.Increment(ref unobserved);
            }
        }

        TaskScheduler.UnobservedTaskException += OnUnobserved;
        try
        {
            await using var pool = new AsyncConnectionPool<FakeConnection>(options);
            await using var disposal = new ClockedDisposal(pool, time);
            await using var held = await pool.AcquireAsync(Ct);
            await (await pool.AcquireAsync(Ct)).DisposeAsync();

            // The timer callback that logs the leak throws inside the logger; the next passes still evict idle connections.
            await time.AdvanceUntilAsync(() => pool.Statistics.Idle == 0, TimeSpan.FromMilliseconds(250), maxSteps: 40);

            held.IsActive.Should().BeTrue();
            logs.GetSnapshot().Should().Contain(r => r.Id.Name == "BackgroundWorkFailed" && r.Exception is AggregateException);
        }
        finally
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
        }

        unobserved.Should().Be(0);
    }

    [Fact]
    public async Task Housekeeping_RandomizerThrowsDuringABackgroundRefill_KeepsTheCountsAndLeaksNoConnection()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time);
        options.MinSize = 1;
        options.MaxLifetimeJitter = 0.1;
        options.MaxLifetime = TimeSpan.FromMinutes(1);
        var calls = 0;
        options.Randomizer = () => Interlocked.Increment(ref calls) == 1 ? throw new InvalidOperationException("no entropy") : 0.5;
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using (new ClockedDisposal(pool, time))
        {
            await FakeClock.WaitUntilAsync(() => factory.CreateCalls >= 1, cancellationToken: Ct);
            await FakeClock.WaitUntilAsync(() => pool.Statistics is { Idle: 1, Creating: 0 }, cancellationToken: Ct);

            var statistics = pool.Statistics;
            statistics.Creating.Should().Be(0, "{0}", statistics);
            statistics.Idle.Should().Be(1, "{0}", statistics);
        }

        factory.Created.Should().OnlyContain(c => c.Disposed, "every connection the pool created is destroyed with it");
    }

    [Fact]
    public async Task EveryPath_MeterListenerThrowsOnEveryMeasurement_LosesOnlyTheMeasurementsNeverAConnectionOrASlot()
    {
        var time = FakeClock.Create();
        var name = "throwing-listener-" + Guid.NewGuid().ToString("N");
        var thrown = 0;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "AsyncPatterns" && instrument.Name.StartsWith("db.client.connection.", StringComparison.Ordinal))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        void ThrowForThisPool(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "db.client.connection.pool.name" && Equals(tag.Value, name))
                {
                    Interlocked.Increment(ref thrown);
                    throw new InvalidOperationException("the metrics exporter is broken");
                }
            }
        }

        listener.SetMeasurementEventCallback<double>((_, _, tags, _) => ThrowForThisPool(tags));
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) => ThrowForThisPool(tags));
        listener.Start();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time, maxSize: 3);
        options.Name = name;
        options.MinSize = 2;
        options.AcquireTimeout = TimeSpan.FromSeconds(5);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await using var disposal = new ClockedDisposal(pool, time);

        // The background refill: recording each create time throws, and both connections are pooled all the same.
        await FakeClock.WaitUntilAsync(() => pool.Statistics.Idle == 2, cancellationToken: Ct);
        pool.Statistics.Creating.Should().Be(0);

        // Leases from the idle stack (wait time) and one created for the caller (create time), then a timeout.
        var leases = new List<PooledConnection<FakeConnection>>();
        for (var i = 0; i < 3; i++)
        {
            leases.Add(await pool.AcquireAsync(Ct));
        }

        var timedOut = pool.AcquireAsync(Ct).AsTask();
        pool.Statistics.Waiting.Should().Be(1, "{0}", pool.Statistics);
        await time.AdvanceAsync(TimeSpan.FromSeconds(5));
        await FluentActions.Awaiting(() => timedOut.WaitAsync(FakeClock.HangTimeout, Ct)).Should()
            .ThrowAsync<ConnectionPoolTimeoutException>("the caller gets the pool's timeout, not the listener's error");

        // Returns (use time) pool every connection again.
        foreach (var lease in leases)
        {
            await lease.DisposeAsync();
        }

        var statistics = pool.Statistics;
        statistics.Idle.Should().Be(3, "every connection is pooled again: {0}", statistics);
        statistics.Busy.Should().Be(0);
        statistics.Creating.Should().Be(0);
        factory.CreateCalls.Should().Be(3);
        factory.Created.Should().OnlyContain(c => c.DisposeCount == 0, "no connection was dropped on the way");
        Volatile.Read(ref thrown).Should().BeGreaterThanOrEqualTo(2 + 3 + 1 + 3, "every create, wait, timeout and use measurement threw");
    }

    [Fact]
    public async Task DisposeAsync_HookCancellationCallbackThrows_WaitersAreStillFailedAndDisposalCompletes()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var logs = new FakeLogCollector();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(logs)));
        var options = factory.Options(time, maxSize: 1);
        options.LoggerFactory = loggerFactory;
        var resetting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        options.ResetAsync = async (_, token) =>
        {
            var callbackRan = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (token.Register(() =>
            {
                callbackRan.SetResult();
                throw new InvalidOperationException("the hook's cancellation callback fails");
            }))
            {
                resetting.SetResult();
                await callbackRan.Task;
            }
        };
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        var lease = await pool.AcquireAsync(Ct);
        var waiter = pool.AcquireAsync(Ct).AsTask();
        var returning = lease.DisposeAsync().AsTask();
        await resetting.Task.WaitAsync(FakeClock.HangTimeout, Ct);

        var disposing = pool.DisposeAsync().AsTask();

        await waiter.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ObjectDisposedException>();

        // The reset ends once its callback has run, the lease comes back, and disposal completes without any drain timeout.
        await returning.WaitAsync(FakeClock.HangTimeout, Ct);
        await disposing.WaitAsync(FakeClock.HangTimeout, Ct);
        factory.Created.Single().Disposed.Should().BeTrue();
        var record = logs.GetSnapshot().Should().ContainSingle("the callback's failure is reported, not lost").Which;
        record.Id.Name.Should().Be("BackgroundWorkFailed");
        record.Exception.Should().BeOfType<AggregateException>().Which.InnerException.Should().BeOfType<InvalidOperationException>()
            .Which.Message.Should().Be("the hook's cancellation callback fails");
    }

    [Fact]
    public async Task AcquireAsync_AfterDispose_ObjectDisposedExceptionNamesThePool()
    {
        var options = new FakeConnectionFactory().Options(FakeClock.Create());
        options.Name = "orders-db";
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        await pool.DisposeAsync();

        var act = async () => await pool.AcquireAsync(Ct);

        var ex = (await act.Should().ThrowAsync<ObjectDisposedException>()).Which;
        ex.ObjectName.Should().Be("orders-db");
        ex.Message.Should().Be("The connection pool 'orders-db' was disposed." + Environment.NewLine + "Object name: 'orders-db'.");
    }

    [Fact]
    public async Task AcquireAsync_WaiterFailedByDispose_ObjectDisposedExceptionNamesThePool()
    {
        var time = FakeClock.Create();
        var options = new FakeConnectionFactory().Options(time, maxSize: 1);
        options.Name = "orders-db";
        options.DrainTimeout = TimeSpan.Zero;
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        var lease = await pool.AcquireAsync(Ct);
        var waiter = pool.AcquireAsync(Ct).AsTask();

        await time.AdvanceUntilCompletedAsync(pool.DisposeAsync().AsTask(), TimeSpan.FromSeconds(1));

        var ex = (await waiter.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ObjectDisposedException>()).Which;
        ex.ObjectName.Should().Be("orders-db");
        ex.Message.Should().Be("The connection pool 'orders-db' was disposed while waiting for a connection." + Environment.NewLine + "Object name: 'orders-db'.");
        lease.IsActive.Should().BeFalse();
    }

    [Fact]
    public async Task ReturnAsync_IsUsableSaysNo_DestroysTheConnectionInsteadOfPoolingIt()
    {
        var factory = new FakeConnectionFactory();
        var options = factory.Options(FakeClock.Create());
        var broken = new HashSet<int>();
        options.IsUsable = c => !broken.Contains(c.Id);
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);

        await using (var lease = await pool.AcquireAsync(Ct))
        {
            broken.Add(lease.Connection.Id);
        }

        pool.Statistics.Should().BeEquivalentTo(new { Idle = 0, Busy = 0, Destroying = 0, TotalDestroyed = 1L });
        await using var next = await pool.AcquireAsync(Ct);
        next.Connection.Id.Should().Be(2);
        factory.Created.First().Disposed.Should().BeTrue();
    }

    [Fact]
    public async Task AcquireAsync_IdleConnectionNoLongerUsable_IsDestroyedAndTheNextIdleOneIsChecked()
    {
        var factory = new FakeConnectionFactory();
        var options = factory.Options(FakeClock.Create());
        var broken = new HashSet<int>();
        var checks = 0;
        options.IsUsable = c =>
        {
            Interlocked.Increment(ref checks);
            return !broken.Contains(c.Id);
        };
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        var one = await pool.AcquireAsync(Ct);
        var two = await pool.AcquireAsync(Ct);
        await two.DisposeAsync();
        await one.DisposeAsync(); // the stack: 2 below 1
        broken.Add(1);
        checks = 0;

        await using var lease = await pool.AcquireAsync(Ct);

        lease.Connection.Id.Should().Be(2, "connection 1 failed the check before the lease; the next idle one passed it");
        checks.Should().Be(2);
        await FakeClock.WaitUntilAsync(() => factory.Created.First().Disposed, cancellationToken: Ct); // destroyed in the background
        pool.Statistics.Destroying.Should().Be(0);
        factory.CreateCalls.Should().Be(2);
    }

    [Fact]
    public async Task AcquireAsync_IsUsableThrows_TheConnectionCountsAsUnusableAndTheThrowIsLogged()
    {
        var logs = new FakeLogCollector();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(logs)));
        var factory = new FakeConnectionFactory();
        var options = factory.Options(FakeClock.Create(), maxSize: 1);
        options.LoggerFactory = loggerFactory;
        var throwing = false;
        options.IsUsable = _ => throwing ? throw new InvalidOperationException("state unknown") : true;
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();
        throwing = true;

        var lease = await pool.AcquireAsync(Ct);

        lease.Connection.Id.Should().Be(2);
        logs.GetSnapshot().Should().ContainSingle(r => r.Id.Name == "ValidateFailed").Which.Exception.Should().BeOfType<InvalidOperationException>();
        await lease.DisposeAsync(); // fails the check again on return: destroyed, slot freed
        pool.Statistics.Should().BeEquivalentTo(new { Idle = 0, Busy = 0, Destroying = 0, TotalDestroyed = 2L });
    }

    [Fact]
    public async Task ReturnAsync_DestroyHookAndLoggerBothThrow_TheReturnCompletesAndFreesTheSlot()
    {
        var logs = new FakeLogCollector();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(new ThrowingLoggerProvider("DestroyFailed", logs)));
        var factory = new FakeConnectionFactory();
        var options = factory.Options(FakeClock.Create(), maxSize: 1);
        options.LoggerFactory = loggerFactory;
        options.DestroyAsync = _ => throw new IOException("close failed");
        await using var pool = new AsyncConnectionPool<FakeConnection>(options);
        var lease = await pool.AcquireAsync(Ct);
        lease.Invalidate();

        await lease.DisposeAsync();

        pool.Statistics.Destroying.Should().Be(0);
        logs.GetSnapshot().Should().ContainSingle().Which.Id.Name.Should().Be("BackgroundWorkFailed");
        await using var next = await pool.AcquireAsync(Ct);
        next.Connection.Id.Should().Be(2);
    }

    [Fact]
    public async Task DisposeAsync_ConnectionFailsValidationAfterDisposalBegan_DisposalWaitsForItsDestroy()
    {
        var time = FakeClock.Create();
        var factory = new FakeConnectionFactory();
        var options = factory.Options(time, maxSize: 1);
        options.ValidateAfterIdle = TimeSpan.FromSeconds(1);
        var validating = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var verdict = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        options.ValidateAsync = (_, _) =>
        {
            validating.TrySetResult();
            return new ValueTask<bool>(verdict.Task);
        };
        var destroying = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var closeGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        options.DestroyAsync = async c =>
        {
            destroying.TrySetResult();
            await closeGate.Task;
            await c.DisposeAsync();
        };
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        await (await pool.AcquireAsync(Ct)).DisposeAsync();
        await time.AdvanceAsync(TimeSpan.FromSeconds(2));
        var acquiring = pool.AcquireAsync(Ct).AsTask();
        await validating.Task.WaitAsync(FakeClock.HangTimeout, Ct);

        var disposing = pool.DisposeAsync().AsTask();
        verdict.SetResult(false); // the connection is found dead only now, after disposal began: destroyed in the background

        await acquiring.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<ObjectDisposedException>();
        await destroying.Task.WaitAsync(FakeClock.HangTimeout, Ct);
        await FakeClock.SettleAsync();
        disposing.IsCompleted.Should().BeFalse("disposal awaits every destroy, including one started after it began");
        closeGate.SetResult();
        await disposing.WaitAsync(FakeClock.HangTimeout, Ct);
        factory.Created.Single().Disposed.Should().BeTrue();
    }

    /// <summary>A logger whose sink fails for one event, as Microsoft.Extensions.Logging reports a failing provider, and records the others.</summary>
    private sealed class ThrowingLoggerProvider(string failingEvent, FakeLogCollector logs) : ILoggerProvider
    {
        public const string Failure = "the pool regression tests' log sink is unavailable";

        public ILogger CreateLogger(string categoryName) => new ThrowingLogger(failingEvent, new FakeLogger(logs, categoryName));

        public void Dispose()
        {
        }

        private sealed class ThrowingLogger(string failingEvent, FakeLogger inner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => inner.BeginScope(state);

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (eventId.Name == failingEvent)
                {
                    throw new InvalidOperationException(Failure);
                }

                inner.Log(logLevel, eventId, state, exception, formatter);
            }
        }
    }
}
