using AsyncPatterns.Connections;
using AsyncPatterns.Tests.Connections;
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

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Message.Should().Contain("broken").And.Contain("CreateAsync");
    }
}
