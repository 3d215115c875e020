using AsyncPatterns.Connections;
using AsyncPatterns.Tests.Connections;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AsyncPatterns.Tests.DependencyInjection;

public sealed class ConnectionPoolServiceCollectionExtensionsTests
{
    [Fact]
    public async Task AddConnectionPool_Named_RegistersAKeyedSingletonNamedAfterTheKey()
    {
        var factory = new FakeConnectionFactory();
        var services = new ServiceCollection();
        services.AddConnectionPool<FakeConnection>("orders", o =>
        {
            o.CreateAsync = factory.CreateAsync;
            o.MaxSize = 3;
        });
        await using var provider = services.BuildServiceProvider();

        var pool = provider.GetRequiredKeyedService<AsyncConnectionPool<FakeConnection>>("orders");

        pool.Should().BeSameAs(provider.GetRequiredKeyedService<AsyncConnectionPool<FakeConnection>>("orders"));
        pool.Name.Should().Be("orders");
        await using var lease = await pool.AcquireAsync(TestContext.Current.CancellationToken);
        lease.Connection.Id.Should().Be(1);
    }

    [Fact]
    public async Task AddConnectionPool_Unnamed_RegistersASingletonDisposedWithTheContainer()
    {
        var factory = new FakeConnectionFactory();
        var services = new ServiceCollection();
        services.AddConnectionPool<FakeConnection>(o => o.CreateAsync = factory.CreateAsync);
        var provider = services.BuildServiceProvider();
        var pool = provider.GetRequiredService<AsyncConnectionPool<FakeConnection>>();
        await (await pool.AcquireAsync(TestContext.Current.CancellationToken)).DisposeAsync();

        await provider.DisposeAsync();

        factory.Created.Single().Disposed.Should().BeTrue();
        var act = async () => await pool.AcquireAsync(TestContext.Current.CancellationToken);
        await act.Should().ThrowAsync<ObjectDisposedException>();
    }

    [Fact]
    public async Task AddConnectionPool_InvalidOptions_FailWhenTheHostStarts()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddConnectionPool<FakeConnection>("broken", o => o.MaxSize = 0);
        using var host = builder.Build();

        var act = () => host.StartAsync(TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Failures.Should().Equal(
            "ConnectionPoolOptions 'broken': ConnectionPoolOptions.CreateAsync must be set (was null).",
            "ConnectionPoolOptions 'broken': ConnectionPoolOptions.MaxSize must be at least 1 (was 0).");
        var construct = () => new AsyncConnectionPool<FakeConnection>(new ConnectionPoolOptions<FakeConnection> { MaxSize = 0 });
        construct.Should().Throw<ArgumentException>().WithParameterName("options").WithMessage(
            "ConnectionPoolOptions.CreateAsync must be set (was null). ConnectionPoolOptions.MaxSize must be at least 1 (was 0). (Parameter 'options')");
    }

    [Fact]
    public async Task AddConnectionPool_NamedConfigurationSection_BindsTheLimitsAndTheChainedHookCompletesThem()
    {
        var factory = new FakeConnectionFactory();
        var time = FakeClock.Create();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection([
            new("Pools:Orders:MaxSize", "4"),
            new("Pools:Orders:MinSize", "1"),
            new("Pools:Orders:AcquireTimeout", "00:00:02"),
            new("Pools:Orders:MaxLifetime", "-00:00:00.001"),
        ]).Build();
        var services = new ServiceCollection().AddSingleton<TimeProvider>(time);
        services.AddConnectionPool<FakeConnection>("orders", configuration.GetSection("Pools:Orders"))
            .Configure(o => o.CreateAsync = factory.CreateAsync);
        await using var provider = services.BuildServiceProvider();
        provider.GetRequiredService<IStartupValidator>().Validate();

        var options = provider.GetRequiredService<IOptionsMonitor<ConnectionPoolOptions<FakeConnection>>>().Get("orders");

        options.MaxSize.Should().Be(4);
        options.MinSize.Should().Be(1);
        options.AcquireTimeout.Should().Be(TimeSpan.FromSeconds(2));
        options.MaxLifetime.Should().Be(Timeout.InfiniteTimeSpan);
        options.Name.Should().Be("orders");
        options.TimeProvider.Should().BeSameAs(time, "the registered TimeProvider is used unless the options set one");
        var pool = provider.GetRequiredKeyedService<AsyncConnectionPool<FakeConnection>>("orders");
        await using var lease = await pool.AcquireAsync(TestContext.Current.CancellationToken);
        factory.Created.Should().Contain(lease.Connection, "the hook chained after the binding creates the connections");
    }

    [Fact]
    public async Task AddConnectionPool_WithoutConfigure_FailsWhenTheHostStartsUntilAHookIsChained()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddConnectionPool<FakeConnection>();
        using var host = builder.Build();

        var act = () => host.StartAsync(TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Message.Should().Contain("CreateAsync");
    }
}
