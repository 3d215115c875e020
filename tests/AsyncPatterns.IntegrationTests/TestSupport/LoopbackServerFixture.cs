namespace AsyncPatterns.IntegrationTests.TestSupport;

/// <summary>One loopback Kestrel server shared by the tests of a class (xunit class fixture).</summary>
public sealed class LoopbackServerFixture : IAsyncLifetime
{
    private LoopbackServer? _server;

    /// <summary>The running server.</summary>
    public LoopbackServer Server => _server ?? throw new InvalidOperationException("The server has not started.");

    /// <inheritdoc />
    public async ValueTask InitializeAsync() => _server = await LoopbackServer.StartAsync();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
