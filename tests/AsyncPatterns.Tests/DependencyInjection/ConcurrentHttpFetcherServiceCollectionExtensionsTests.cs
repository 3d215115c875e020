using AsyncPatterns.Http;
using AsyncPatterns.Tests.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AsyncPatterns.Tests.DependencyInjection;

public sealed class ConcurrentHttpFetcherServiceCollectionExtensionsTests
{
    [Fact]
    public async Task AddConcurrentHttpFetcher_NamedClient_FetcherSendsThroughItsHandler()
    {
        using var stub = new StubHttpMessageHandler();
        stub.OnAnyRequest(StubResponse.Json("""{"id":3,"name":"c","price":2}"""));
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddConcurrentHttpFetcher("items", o => o.MaxConcurrency = 4)
            .ConfigurePrimaryHttpMessageHandler(() => stub);
        using var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);

        var fetcher = host.Services.GetRequiredKeyedService<ConcurrentHttpFetcher>("items");
        var results = await fetcher.FetchAllAsync([new Uri("http://stub.test/a")], HttpTestJson.Default.ServerItem, TestContext.Current.CancellationToken);

        results[0].Value!.Id.Should().Be(3);
        host.Services.GetRequiredService<ConcurrentHttpFetcher>().Should().BeSameAs(fetcher);
        stub.RequestCount.Should().Be(1);
        await host.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task AddConcurrentHttpFetcher_InvalidOptions_HostFailsToStart()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddConcurrentHttpFetcher("items", o => o.MaxConcurrency = 0);
        using var host = builder.Build();

        var act = () => host.StartAsync(TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which.ParamName.Should().Be(nameof(FetchOptions.MaxConcurrency));
    }

    [Fact]
    public void AddConcurrentHttpFetcher_NullArguments_Throw()
    {
        var services = new ServiceCollection();

        services.Invoking(s => s.AddConcurrentHttpFetcher(null!)).Should().Throw<ArgumentNullException>();
        services.Invoking(s => s.AddConcurrentHttpFetcher("a", null!)).Should().Throw<ArgumentNullException>();
    }
}
