namespace AsyncPatterns.IntegrationTests.Samples;

/// <summary>Runs one sample once for a test class; its tests assert on the same output.</summary>
public abstract class SampleFixture(string name, params string[] args) : IAsyncLifetime
{
    internal SampleRun Run { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Run = await SampleProcess.RunAsync(name, args);

    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}
