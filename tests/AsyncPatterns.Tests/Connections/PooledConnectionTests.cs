using AsyncPatterns.Connections;

namespace AsyncPatterns.Tests.Connections;

public sealed class PooledConnectionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task DisposeAsync_Twice_ReturnsTheConnectionOnce()
    {
        var factory = new FakeConnectionFactory();
        await using var pool = new AsyncConnectionPool<FakeConnection>(factory.Options(FakeClock.Create()));
        var lease = await pool.AcquireAsync(Ct);
        var copy = lease;

        await lease.DisposeAsync();
        await lease.DisposeAsync();
        await copy.DisposeAsync();

        pool.Statistics.Idle.Should().Be(1);
        pool.Statistics.Busy.Should().Be(0);
        var next = await pool.AcquireAsync(Ct);
        await lease.DisposeAsync(); // the stale lease must not return the connection now leased again
        pool.Statistics.Busy.Should().Be(1);
        next.IsActive.Should().BeTrue();
        await next.DisposeAsync();
    }

    [Fact]
    public async Task Connection_AfterReturn_ThrowsObjectDisposedException()
    {
        var factory = new FakeConnectionFactory();
        await using var pool = new AsyncConnectionPool<FakeConnection>(factory.Options(FakeClock.Create()));
        var lease = await pool.AcquireAsync(Ct);
        lease.IsActive.Should().BeTrue();

        await lease.DisposeAsync();

        lease.IsActive.Should().BeFalse();
        lease.Invoking(l => l.Connection).Should().Throw<ObjectDisposedException>();
        lease.Invoking(l => l.Invalidate()).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public async Task Invalidate_ThenDispose_DestroysTheConnectionAndFreesItsSlot()
    {
        var factory = new FakeConnectionFactory();
        await using var pool = new AsyncConnectionPool<FakeConnection>(factory.Options(FakeClock.Create(), maxSize: 1));
        var lease = await pool.AcquireAsync(Ct);
        var connection = lease.Connection;

        lease.Invalidate();
        connection.Disposed.Should().BeFalse("the connection is destroyed when the lease ends, not under its user");
        await lease.DisposeAsync();

        connection.Disposed.Should().BeTrue();
        pool.Statistics.TotalDestroyed.Should().Be(1);
        await using var next = await pool.AcquireAsync(Ct);
        next.Connection.Id.Should().Be(2);
    }

    [Fact]
    public async Task Default_HasNoConnection()
    {
        var lease = default(PooledConnection<FakeConnection>);

        lease.IsActive.Should().BeFalse();
        lease.Invoking(l => l.Connection).Should().Throw<ObjectDisposedException>();
        var dispose = () => lease.DisposeAsync().AsTask();
        await dispose.Should().NotThrowAsync();
    }

    [Fact]
    public async Task Equals_CopiesOfOneLease_AreEqualAndLaterLeasesOnTheSameConnectionAreNot()
    {
        var factory = new FakeConnectionFactory();
        await using var pool = new AsyncConnectionPool<FakeConnection>(factory.Options(FakeClock.Create(), maxSize: 1));
        var first = await pool.AcquireAsync(Ct);
        var copy = first;
        await first.DisposeAsync();
        await using var second = await pool.AcquireAsync(Ct);

        (copy == first).Should().BeTrue();
        (second != first).Should().BeTrue();
        second.Connection.Should().BeSameAs(factory.Created.Single());
    }
}
