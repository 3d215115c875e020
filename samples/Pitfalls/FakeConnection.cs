namespace AsyncPatterns.Samples.Pitfalls;

/// <summary>A pretend database connection: opening and closing are counted, so a leak shows up as a number.</summary>
internal sealed class FakeConnection : IAsyncDisposable
{
    private readonly ConnectionCounter _counter;
    private int _closed;

    private FakeConnection(ConnectionCounter counter) => _counter = counter;

    public static async Task<FakeConnection> OpenAsync(ConnectionCounter counter, CancellationToken cancellationToken)
    {
        await Task.Delay(1, cancellationToken);
        counter.OnOpened();
        return new FakeConnection(counter);
    }

    /// <summary>A slow query; cancellation interrupts it.</summary>
    public Task QueryAsync(TimeSpan duration, CancellationToken cancellationToken) => Task.Delay(duration, cancellationToken);

    /// <summary>Closes the connection (idempotent).</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _counter.OnClosed();
        }

        return ValueTask.CompletedTask;
    }
}
