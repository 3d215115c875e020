using AsyncPatterns.Connections;

namespace AsyncPatterns.Tests.Connections;

/// <summary>The ADO.NET hooks of <see cref="DbConnectionPool"/>, run against an in-memory <see cref="FakeDbConnection"/>.</summary>
public sealed class DbConnectionPoolTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Create_NullFactory_ThrowsArgumentNullExceptionNamingTheFactory()
    {
        var act = () => DbConnectionPool.Create<FakeDbConnection>(null!);

        act.Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("connectionFactory");
    }

    [Fact]
    public void CreateOptions_NullFactory_ThrowsArgumentNullExceptionNamingTheFactory()
    {
        var act = () => DbConnectionPool.CreateOptions<FakeDbConnection>(null!);

        act.Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("connectionFactory");
    }

    [Fact]
    public async Task Create_WithConfigure_AppliesItToThePool()
    {
        var options = (ConnectionPoolOptions<FakeDbConnection>?)null;
        await using var pool = DbConnectionPool.Create(() => new FakeDbConnection(), o =>
        {
            o.Name = "orders";
            o.MaxSize = 1;
            options = o;
        });

        pool.Name.Should().Be("orders");
        options!.CreateAsync.Should().NotBeNull("configure runs after the ADO.NET hooks are set");
        await using var lease = await pool.AcquireAsync(Ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var second = pool.AcquireAsync(cts.Token).AsTask();
        second.IsCompleted.Should().BeFalse("MaxSize is 1");
        await cts.CancelAsync();
        await second.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<OperationCanceledException>();
    }

    [Fact]
    public async Task Create_WithoutConfigure_OpensConnectionsAndDisposesThemWithThePool()
    {
        var connection = new FakeDbConnection();
        var pool = DbConnectionPool.Create(() => connection);

        pool.Name.Should().Be(nameof(FakeDbConnection));
        await (await pool.AcquireAsync(Ct)).DisposeAsync();
        connection.State.Should().Be(System.Data.ConnectionState.Open);
        await pool.DisposeAsync().AsTask().WaitAsync(FakeClock.HangTimeout, Ct);

        connection.DisposeCount.Should().Be(1);
    }

    [Fact]
    public void CreateOptions_Always_SetsTheAdoNetHooksAndTheConnectionTypeName()
    {
        var options = DbConnectionPool.CreateOptions(() => new FakeDbConnection());

        options.CreateAsync.Should().NotBeNull();
        options.ValidateAsync.Should().NotBeNull();
        options.DestroyAsync.Should().NotBeNull();
        options.ResetAsync.Should().BeNull();
        options.Name.Should().Be(nameof(FakeDbConnection));
    }

    [Fact]
    public async Task CreateAsync_Always_OpensTheFactorysConnection()
    {
        var connection = new FakeDbConnection();
        var options = DbConnectionPool.CreateOptions(() => connection);

        var created = await options.CreateAsync!(Ct);

        created.Should().BeSameAs(connection);
        connection.OpenCount.Should().Be(1);
        connection.State.Should().Be(System.Data.ConnectionState.Open);
        connection.DisposeCount.Should().Be(0);
    }

    [Fact]
    public async Task CreateAsync_OpenFails_DisposesTheConnectionAndRethrows()
    {
        var connection = new FakeDbConnection { OpenError = new InvalidOperationException("login failed") };
        var options = DbConnectionPool.CreateOptions(() => connection);

        var act = async () => await options.CreateAsync!(Ct);

        await act.Should().ThrowAsync<InvalidOperationException>().WithMessage("login failed");
        connection.DisposeCount.Should().Be(1);
    }

    [Fact]
    public async Task ValidateAsync_ConnectionNotOpen_ReturnsFalseWithoutRunningTheQuery()
    {
        var connection = new FakeDbConnection();
        var options = DbConnectionPool.CreateOptions(() => connection);
        await options.CreateAsync!(Ct);
        connection.Break();

        var valid = await options.ValidateAsync!(connection, Ct);

        valid.Should().BeFalse();
        connection.Executed.Should().BeEmpty();
    }

    [Fact]
    public async Task ValidateAsync_OpenConnection_RunsTheDefaultQueryAndReturnsTrue()
    {
        var connection = new FakeDbConnection();
        var options = DbConnectionPool.CreateOptions(() => connection);
        await options.CreateAsync!(Ct);

        var valid = await options.ValidateAsync!(connection, Ct);

        valid.Should().BeTrue();
        connection.Executed.Should().Equal(DbConnectionPool.DefaultValidationQuery);
    }

    [Fact]
    public async Task ValidateAsync_CustomQuery_RunsIt()
    {
        var connection = new FakeDbConnection();
        var options = DbConnectionPool.CreateOptions(() => connection, validationQuery: "SELECT 1 FROM DUAL");
        await options.CreateAsync!(Ct);

        var valid = await options.ValidateAsync!(connection, Ct);

        valid.Should().BeTrue();
        connection.Executed.Should().Equal("SELECT 1 FROM DUAL");
    }

    [Fact]
    public async Task ValidateAsync_NoQueryAndOpenConnection_ReturnsTrueWithoutRunningAnything()
    {
        var connection = new FakeDbConnection();
        var options = DbConnectionPool.CreateOptions(() => connection, validationQuery: null);
        await options.CreateAsync!(Ct);

        var valid = await options.ValidateAsync!(connection, Ct);

        valid.Should().BeTrue();
        connection.Executed.Should().BeEmpty();
    }

    [Fact]
    public async Task ValidateAsync_NoQueryAndClosedConnection_ReturnsFalse()
    {
        var connection = new FakeDbConnection();
        var options = DbConnectionPool.CreateOptions(() => connection, validationQuery: null);

        var valid = await options.ValidateAsync!(connection, Ct);

        valid.Should().BeFalse();
    }

    [Fact]
    public async Task ValidateAsync_QueryFails_Throws()
    {
        var connection = new FakeDbConnection { CommandError = new InvalidOperationException("connection reset") };
        var options = DbConnectionPool.CreateOptions(() => connection);
        await options.CreateAsync!(Ct);

        var act = async () => await options.ValidateAsync!(connection, Ct);

        await act.Should().ThrowAsync<InvalidOperationException>().WithMessage("connection reset");
    }

    [Fact]
    public async Task DestroyAsync_Always_DisposesTheConnection()
    {
        var connection = new FakeDbConnection();
        var options = DbConnectionPool.CreateOptions(() => connection);
        await options.CreateAsync!(Ct);

        await options.DestroyAsync!(connection);

        connection.DisposeCount.Should().Be(1);
        connection.State.Should().Be(System.Data.ConnectionState.Closed);
    }

    [Fact]
    public async Task AcquireAsync_IdleDbConnectionBrokeWhileIdle_IsReplacedByAFreshOne()
    {
        var time = FakeClock.Create();
        var connections = new List<FakeDbConnection>();
        await using var pool = DbConnectionPool.Create(
            () =>
            {
                var c = new FakeDbConnection();
                connections.Add(c);
                return c;
            },
            o =>
            {
                o.TimeProvider = time;
                o.ValidateAfterIdle = TimeSpan.FromSeconds(1);
            });
        await (await pool.AcquireAsync(Ct)).DisposeAsync();
        connections[0].Break();
        time.Advance(TimeSpan.FromSeconds(1));

        await using var lease = await pool.AcquireAsync(Ct);

        lease.Connection.Should().BeSameAs(connections[1]);
        await FakeClock.WaitUntilAsync(() => connections[0].DisposeCount == 1, cancellationToken: Ct);
    }
}
