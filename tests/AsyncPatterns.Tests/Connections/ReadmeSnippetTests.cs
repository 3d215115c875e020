using System.Data.Common;
using AsyncPatterns.Connections;

namespace AsyncPatterns.Tests.Connections;

/// <summary>The README's custom-connection snippet, compiled and run against a stand-in broker connection.</summary>
public sealed class ReadmeSnippetTests
{
    [Fact]
    public async Task ReadmeSnippet_CustomConnectionWithHooks_PublishesAndInvalidatesOnIOException()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var message = "hello";

        // --- snippet (README.md, AsyncPatterns.Connections) ---
        await using var pool = new AsyncConnectionPool<BrokerConnection>(new ConnectionPoolOptions<BrokerConnection>
        {
            Name = "broker",
            CreateAsync = ct => BrokerConnection.OpenAsync("127.0.0.1:5672", ct),   // required
            IsUsable = c => c.IsOpen,                                               // on return and before each lease, no round trip
            ValidateAsync = (c, ct) => c.PingAsync(ct),                             // when idle > ValidateAfterIdle
            ResetAsync = (c, ct) => c.ResetSessionAsync(ct),                        // on every return
            DestroyAsync = c => c.DisposeAsync(),                                   // default: DisposeAsync
            MinSize = 2,
            MaxSize = 20,
            AcquireTimeout = TimeSpan.FromSeconds(5),
            MaxLifetime = TimeSpan.FromMinutes(30),
            LeakDetectionThreshold = TimeSpan.FromMinutes(1),
        });

        await using (var lease = await pool.AcquireAsync(cancellationToken))
        {
            try
            {
                await lease.Connection.PublishAsync(message, cancellationToken);
            }
            catch (IOException)
            {
                lease.Invalidate();   // broken: destroy it instead of pooling it
                throw;
            }
        }

        // --- end of snippet ---
        BrokerConnection.Published.Should().Contain("hello");
        pool.Statistics.Busy.Should().Be(0);
    }

    [Fact]
    public async Task ReadmeSnippet_TransientQueryFailureInsideALease_InvalidatesTheConnection()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var connections = new List<FakeDbConnection>();
        await using var pool = DbConnectionPool.Create(() =>
        {
            var c = new FakeDbConnection { CommandError = connections.Count == 0 ? new TransientDbException() : null };
            connections.Add(c);
            return c;
        });

        var act = async () =>
        {
            // --- snippet (README.md, AsyncPatterns.Connections: a query fails inside a lease) ---
            await using (var lease = await pool.AcquireAsync(cancellationToken))
            {
                try
                {
                    await using var command = lease.Connection.CreateCommand();
                    command.CommandText = "UPDATE accounts SET balance = balance - 10 WHERE id = 42";
                    await command.ExecuteNonQueryAsync(cancellationToken);
                }
                catch (DbException ex) when (ex.IsTransient)
                {
                    lease.Invalidate();   // in doubt: destroy it instead of pooling it
                    throw;
                }
            }

            // --- end of snippet ---
        };

        await act.Should().ThrowAsync<TransientDbException>();
        connections[0].DisposeCount.Should().Be(1, "the invalidated connection is destroyed, though still open");
        await using var next = await pool.AcquireAsync(cancellationToken);
        next.Connection.Should().NotBeSameAs(connections[0]);
    }

    private sealed class TransientDbException() : DbException("connection reset by peer")
    {
        public override bool IsTransient => true;
    }

    private sealed class BrokerConnection : IAsyncDisposable
    {
        public static System.Collections.Concurrent.ConcurrentBag<string> Published { get; } = [];

        public static ValueTask<BrokerConnection> OpenAsync(string address, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new BrokerConnection());

        public bool IsOpen => true;

        public ValueTask<bool> PingAsync(CancellationToken cancellationToken) => ValueTask.FromResult(true);

        public ValueTask ResetSessionAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask PublishAsync(string message, CancellationToken cancellationToken)
        {
            Published.Add(message);
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
