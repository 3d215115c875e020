using System.Text.Json;
using System.Text.Json.Serialization;

namespace AsyncPatterns.IntegrationTests.FaultInjection;

/// <summary>Source-generated JSON metadata for the fault-injection tests.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ServerItem))]
[JsonSerializable(typeof(List<ServerItem>))]
internal sealed partial class FaultJson : JsonSerializerContext;

/// <summary>The faults of <see cref="LoopbackServer"/>'s <c>/fault/*</c> endpoints and the helpers the tests share.</summary>
internal static class FaultInjection
{
    /// <summary>The configured timeout of each component under test: a real timeout, the server is a real socket.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1.5);

    /// <summary>A generous bound on a whole test case; only a hang reaches it.</summary>
    public static readonly TimeSpan UpperBound = TimeSpan.FromSeconds(30);

    public const string ResetMidBody = "reset-mid-body";
    public const string Slowloris = "slowloris";
    public const string StallMidBody = "stall-mid-body";
    public const string TruncatedJson = "truncated-json";
    public const string RedirectLoop = "redirect-loop";
    public const string HugeHeader = "huge-header";

    /// <summary>
    /// The timeout for a fault: <see cref="Timeout"/> for the faults that only a timeout ends, a generous one for the
    /// faults that end on their own, so a loaded machine cannot turn them into a timeout.
    /// </summary>
    public static TimeSpan TimeoutFor(string fault) => fault is Slowloris or StallMidBody ? Timeout : UpperBound / 2;

    public static Uri Url(LoopbackServer server, string fault) => server.Url("fault/" + fault);

    /// <summary>A client with its own connection pool, so disposing it closes every connection it opened.</summary>
    public static HttpClient CreateClient(TimeSpan? timeout = null) =>
        new(new SocketsHttpHandler(), disposeHandler: true) { Timeout = timeout ?? System.Threading.Timeout.InfiniteTimeSpan };

    /// <summary>After the clients are disposed, the server sees every connection closed.</summary>
    public static async Task AssertNoOpenConnectionsAsync(LoopbackServer server, string fault)
    {
        try
        {
            await FakeClock.WaitUntilAsync(() => server.OpenConnections == 0, TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        }
        catch (TimeoutException ex)
        {
            throw new InvalidOperationException($"{fault}: {server.OpenConnections} connection(s) still open on the server after the client was disposed.", ex);
        }
    }
}
