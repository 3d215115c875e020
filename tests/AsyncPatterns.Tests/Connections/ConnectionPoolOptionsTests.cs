using AsyncPatterns.Connections;

namespace AsyncPatterns.Tests.Connections;

public sealed class ConnectionPoolOptionsTests
{
    public static TheoryData<string> InvalidSettings => new()
    {
        nameof(ConnectionPoolOptions<FakeConnection>.CreateAsync),
        nameof(ConnectionPoolOptions<FakeConnection>.MaxSize),
        nameof(ConnectionPoolOptions<FakeConnection>.MinSize),
        nameof(ConnectionPoolOptions<FakeConnection>.AcquireTimeout),
        nameof(ConnectionPoolOptions<FakeConnection>.IdleTimeout),
        nameof(ConnectionPoolOptions<FakeConnection>.MaxLifetime),
        nameof(ConnectionPoolOptions<FakeConnection>.MaxLifetimeJitter),
        nameof(ConnectionPoolOptions<FakeConnection>.Randomizer),
        nameof(ConnectionPoolOptions<FakeConnection>.ValidateAfterIdle),
        nameof(ConnectionPoolOptions<FakeConnection>.LeakDetectionThreshold),
        nameof(ConnectionPoolOptions<FakeConnection>.DrainTimeout),
        nameof(ConnectionPoolOptions<FakeConnection>.TimeProvider),
        nameof(ConnectionPoolOptions<FakeConnection>.Name),
    };

    [Fact]
    public void Defaults_AreTheDocumentedValues()
    {
        var options = new ConnectionPoolOptions<FakeConnection>();

        options.MinSize.Should().Be(0);
        options.MaxSize.Should().Be(10);
        options.AcquireTimeout.Should().Be(TimeSpan.FromSeconds(30));
        options.IdleTimeout.Should().Be(TimeSpan.FromMinutes(10));
        options.MaxLifetime.Should().Be(TimeSpan.FromMinutes(30));
        options.MaxLifetimeJitter.Should().Be(0.025);
        options.ValidateAfterIdle.Should().Be(TimeSpan.FromMilliseconds(500));
        options.LeakDetectionThreshold.Should().Be(Timeout.InfiniteTimeSpan);
        options.DrainTimeout.Should().Be(TimeSpan.FromSeconds(30));
        options.TimeProvider.Should().BeSameAs(TimeProvider.System);
        options.Name.Should().Be(nameof(FakeConnection));
        options.CreateAsync.Should().BeNull();
        options.LoggerFactory.Should().BeNull();
    }

    [Theory]
    [MemberData(nameof(InvalidSettings))]
    public void Constructor_InvalidOption_ThrowsNamingTheProperty(string property)
    {
        var options = new FakeConnectionFactory().Options();
        switch (property)
        {
            case "CreateAsync": options.CreateAsync = null; break;
            case "MaxSize": options.MaxSize = 0; break;
            case "MinSize": options.MinSize = options.MaxSize + 1; break;
            case "AcquireTimeout": options.AcquireTimeout = TimeSpan.Zero; break;
            case "IdleTimeout": options.IdleTimeout = TimeSpan.FromSeconds(-2); break;
            case "MaxLifetime": options.MaxLifetime = TimeSpan.Zero; break;
            case "MaxLifetimeJitter": options.MaxLifetimeJitter = 0.9; break;
            case "Randomizer": options.Randomizer = null!; break;
            case "ValidateAfterIdle": options.ValidateAfterIdle = TimeSpan.FromSeconds(-1); break;
            case "LeakDetectionThreshold": options.LeakDetectionThreshold = TimeSpan.Zero; break;
            case "DrainTimeout": options.DrainTimeout = Timeout.InfiniteTimeSpan; break;
            case "TimeProvider": options.TimeProvider = null!; break;
            case "Name": options.Name = " "; break;
            default: throw new ArgumentOutOfRangeException(nameof(property));
        }

        var act = () => new AsyncConnectionPool<FakeConnection>(options);

        act.Should().Throw<ArgumentException>().Which.ParamName.Should().Be(property);
    }

    [Fact]
    public async Task Constructor_OptionsChangedAfterwards_DoNotAffectThePool()
    {
        var options = new FakeConnectionFactory().Options(FakeClock.Create(), maxSize: 1);
        var pool = new AsyncConnectionPool<FakeConnection>(options);
        options.MaxSize = 5;

        var first = await pool.AcquireAsync(TestContext.Current.CancellationToken);
        var second = pool.AcquireAsync(TestContext.Current.CancellationToken).AsTask();

        second.IsCompleted.Should().BeFalse("the pool copied MaxSize 1 when it was built");
        await first.DisposeAsync();
        await (await second.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)).DisposeAsync();
        await pool.DisposeAsync().AsTask().WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken);
    }
}
