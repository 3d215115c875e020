namespace AsyncPatterns.Samples.Pitfalls;

/// <summary>Counts the connections a <see cref="FakeConnection"/> opens and closes.</summary>
internal sealed class ConnectionCounter
{
    private int _opened;
    private int _closed;

    public int Opened => Volatile.Read(ref _opened);

    public int Closed => Volatile.Read(ref _closed);

    /// <summary>Connections opened and never closed.</summary>
    public int Open => Opened - Closed;

    public void OnOpened() => Interlocked.Increment(ref _opened);

    public void OnClosed() => Interlocked.Increment(ref _closed);
}
