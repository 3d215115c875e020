// What every documentation snippet may assume without declaring it: the names a reader of the README already has in
// scope in an application (an HttpClient, a logger, the caller's token, a list of URLs, a pool from the block before)
// and the application's own types and methods the snippets call. Compiled with each snippet and imported into it with
// `using static`, not compiled into the tests. Keep it small: a name belongs here only when a snippet would be
// noisier for declaring it; using directives never do (a snippet shows the namespaces it needs, or names them in a
// <!-- snippet: --> comment above it).
#pragma warning disable CS8618, CA1050, CA1707, CA1822, CA1034, CA2211, IDE1006, IDE0060
using System.Data.Common;
using AsyncPatterns.Connections;
using AsyncPatterns.Pagination;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AsyncPatterns.DocsTests.Snippets;

public static class SnippetContext
{
    // What an application has at hand.
    public static HttpClient httpClient = null!;
    public static HttpClient http = null!;
    public static ILogger logger = null!;
    public static CancellationToken cancellationToken;
    public static IReadOnlyList<string> urls = [];
    public static string message = "";

    // What a host-based application has at hand: its builder, its services, the built host, the client factory.
    public static HostApplicationBuilder builder = null!;
    public static IServiceCollection services = null!;
    public static IHost host = null!;
    public static IHttpClientFactory factory = null!;

    // Objects a block builds and a later block of the same section goes on using.
    public static Paginator<Order> orders = null!;
    public static AsyncConnectionPool<DbConnection> pool = null!;

    // The application's own code the snippets call.
    public static Task<int> CountRowsAsync(CancellationToken cancellationToken) => Task.FromResult(0);
    public static Task ProcessAsync(Order order, CancellationToken cancellationToken) => Task.CompletedTask;
    public static Task SaveAsync(IReadOnlyList<Order> orders, CancellationToken cancellationToken) => Task.CompletedTask;
    public static LegacyClient legacyClient = null!;
    public static OrderRepository repository = null!;

    public sealed record Item(int Id, string Name);

    public sealed record Order(long Id, string Customer);

    public sealed record Row(long Id, string Value);

    public sealed class LegacyClient
    {
        public Task<byte[]> DownloadAsync() => Task.FromResult(Array.Empty<byte>());
    }

    public sealed class OrderRepository
    {
        public Task<IReadOnlyList<Row>> ReadAfterAsync(long lastId, int limit, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<Row>>([]);
    }

    public sealed class BrokerConnection : IAsyncDisposable
    {
        public bool IsOpen => true;

        public static ValueTask<BrokerConnection> OpenAsync(string endpoint, CancellationToken cancellationToken) => ValueTask.FromResult(new BrokerConnection());

        public ValueTask<bool> PingAsync(CancellationToken cancellationToken) => ValueTask.FromResult(true);

        public ValueTask ResetSessionAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public Task PublishAsync(string message, CancellationToken cancellationToken) => Task.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
