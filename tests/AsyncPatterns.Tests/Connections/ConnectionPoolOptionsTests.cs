using AsyncPatterns.Connections;
using AsyncPatterns.Connections.Internal;
using Microsoft.Extensions.Configuration;

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

    [Fact]
    public void Bind_EveryKeyPresent_SetsEveryLimitTheConfigurationNames()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection([
            new("MinSize", "2"),
            new("MaxSize", "7"),
            new("AcquireTimeout", "00:00:03"),
            new("IdleTimeout", "00:04:00"),
            new("MaxLifetime", "01:00:00"),
            new("MaxLifetimeJitter", "0.1"),
            new("ValidateAfterIdle", "00:00:01.5"),
            new("LeakDetectionThreshold", "00:02:00"),
            new("DrainTimeout", "00:00:05"),
            new("Name", "orders"),
        ]).Build();
        var options = new ConnectionPoolOptions<FakeConnection>();

        options.Bind(configuration);

        options.MinSize.Should().Be(2);
        options.MaxSize.Should().Be(7);
        options.AcquireTimeout.Should().Be(TimeSpan.FromSeconds(3));
        options.IdleTimeout.Should().Be(TimeSpan.FromMinutes(4));
        options.MaxLifetime.Should().Be(TimeSpan.FromHours(1));
        options.MaxLifetimeJitter.Should().Be(0.1);
        options.ValidateAfterIdle.Should().Be(TimeSpan.FromSeconds(1.5));
        options.LeakDetectionThreshold.Should().Be(TimeSpan.FromMinutes(2));
        options.DrainTimeout.Should().Be(TimeSpan.FromSeconds(5));
        options.Name.Should().Be("orders");
    }

    [Fact]
    public void Bind_EmptySection_LeavesEveryLimitAsItWas()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection([new("Unrelated", "1")]).Build();
        var options = new ConnectionPoolOptions<FakeConnection> { IdleTimeout = TimeSpan.FromMinutes(4), Name = "orders" };

        options.Bind(configuration);

        options.Should().BeEquivalentTo(new ConnectionPoolOptions<FakeConnection> { IdleTimeout = TimeSpan.FromMinutes(4), Name = "orders" },
            o => o.Excluding(x => x.Randomizer).Excluding(x => x.TimeProvider));
    }

    [Theory]
    [MemberData(nameof(InvalidSettings))]
    public void Constructor_InvalidOption_ThrowsNamingOptionsAndTheProperty(string property)
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

        act.Should().Throw<ArgumentException>().WithParameterName("options").WithMessage($"ConnectionPoolOptions.{property} must be * (was *). (Parameter 'options')");
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

    [Fact]
    public void Constructor_NullOptions_ThrowsArgumentNullExceptionNamingOptions()
    {
        var act = () => new AsyncConnectionPool<FakeConnection>((ConnectionPoolOptions<FakeConnection>)null!);

        act.Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("options");
    }

    [Fact]
    public void CoreConstructor_NullOptions_ThrowsArgumentNullExceptionNamingOptions()
    {
        var act = () => new ConnectionPoolCore<FakeConnection>(null!);

        act.Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("options");
    }

    [Fact]
    public void Constructor_NullCreateHook_ThrowsArgumentNullExceptionNamingCreateAsync()
    {
        var act = () => new AsyncConnectionPool<FakeConnection>(null!, maxSize: 1);

        act.Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("createAsync");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Constructor_MaxSizeBelowOne_ThrowsArgumentOutOfRangeExceptionNamingMaxSize(int maxSize)
    {
        var act = () => new AsyncConnectionPool<FakeConnection>(new FakeConnectionFactory().CreateAsync, maxSize);

        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("maxSize");
    }

    [Fact]
    public async Task Constructor_CreateHookAndMaxSizeOne_BuildsAPoolOfOne()
    {
        await using var pool = new AsyncConnectionPool<FakeConnection>(new FakeConnectionFactory().CreateAsync, maxSize: 1);

        await using var lease = await pool.AcquireAsync(TestContext.Current.CancellationToken);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var second = pool.AcquireAsync(cts.Token).AsTask();
        second.IsCompleted.Should().BeFalse("MaxSize is 1");
        pool.Statistics.Waiting.Should().Be(1);
        await cts.CancelAsync();
        await second.Awaiting(t => t.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)).Should().ThrowAsync<OperationCanceledException>();
    }

    public static TheoryData<string, object> BoundaryValuesAccepted => new()
    {
        { nameof(ConnectionPoolOptions<FakeConnection>.DrainTimeout), TimeSpan.Zero },
        { nameof(ConnectionPoolOptions<FakeConnection>.DrainTimeout), TimeSpan.FromMilliseconds(int.MaxValue) },
        { nameof(ConnectionPoolOptions<FakeConnection>.MaxLifetimeJitter), 0.0 },
        { nameof(ConnectionPoolOptions<FakeConnection>.MaxLifetimeJitter), 0.5 },
        { nameof(ConnectionPoolOptions<FakeConnection>.AcquireTimeout), TimeSpan.FromMilliseconds(int.MaxValue) },
        { nameof(ConnectionPoolOptions<FakeConnection>.IdleTimeout), TimeSpan.FromMilliseconds(int.MaxValue) },
        { nameof(ConnectionPoolOptions<FakeConnection>.MaxLifetime), TimeSpan.FromMilliseconds(int.MaxValue) },
        { nameof(ConnectionPoolOptions<FakeConnection>.LeakDetectionThreshold), TimeSpan.FromMilliseconds(int.MaxValue) },
        { nameof(ConnectionPoolOptions<FakeConnection>.AcquireTimeout), TimeSpan.FromTicks(1) },
    };

    public static TheoryData<string, object> BoundaryValuesRejected => new()
    {
        { nameof(ConnectionPoolOptions<FakeConnection>.DrainTimeout), TimeSpan.FromTicks(-1) },
        { nameof(ConnectionPoolOptions<FakeConnection>.DrainTimeout), TimeSpan.FromMilliseconds(int.MaxValue) + TimeSpan.FromTicks(1) },
        { nameof(ConnectionPoolOptions<FakeConnection>.MaxLifetimeJitter), double.NaN },
        { nameof(ConnectionPoolOptions<FakeConnection>.MaxLifetimeJitter), -0.001 },
        { nameof(ConnectionPoolOptions<FakeConnection>.MaxLifetimeJitter), 0.501 },
        { nameof(ConnectionPoolOptions<FakeConnection>.AcquireTimeout), TimeSpan.FromMilliseconds(int.MaxValue) + TimeSpan.FromTicks(1) },
    };

    [Theory]
    [MemberData(nameof(BoundaryValuesAccepted))]
    public async Task Constructor_OptionAtTheEdgeOfItsRange_IsAccepted(string property, object value)
    {
        var options = new FakeConnectionFactory().Options(FakeClock.Create());
        Set(options, property, value);

        var pool = new AsyncConnectionPool<FakeConnection>(options);

        await pool.DisposeAsync().AsTask().WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken);
    }

    [Theory]
    [MemberData(nameof(BoundaryValuesRejected))]
    public void Constructor_OptionJustOutsideItsRange_ThrowsNamingOptionsAndTheProperty(string property, object value)
    {
        var options = new FakeConnectionFactory().Options(FakeClock.Create());
        Set(options, property, value);

        var act = () => new AsyncConnectionPool<FakeConnection>(options);

        act.Should().Throw<ArgumentException>().WithParameterName("options").WithMessage($"ConnectionPoolOptions.{property} must be * (was *). (Parameter 'options')");
    }

    private static void Set(ConnectionPoolOptions<FakeConnection> options, string property, object value) =>
        typeof(ConnectionPoolOptions<FakeConnection>).GetProperty(property)!.SetValue(options, value);
}
