namespace AsyncPatterns.Samples.Pitfalls;

/// <summary>
/// A periodic timer that measures its own lateness: each tick's continuation needs a free thread-pool thread,
/// so when the pool is starved the beats come late. The worst lateness is how long the app stopped responding.
/// </summary>
internal sealed class Heartbeat : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly TimeSpan _period;
    private readonly Task _loop;
    private long _worstLatenessTicks;
    private int _beats;

    public Heartbeat(TimeSpan period)
    {
        _period = period;
        _loop = BeatAsync();
    }

    /// <summary>The beats so far.</summary>
    public int Beats => Volatile.Read(ref _beats);

    /// <summary>The longest a beat came after its due time.</summary>
    public TimeSpan WorstLateness => TimeSpan.FromTicks(Interlocked.Read(ref _worstLatenessTicks));

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }

    private async Task BeatAsync()
    {
        using var timer = new PeriodicTimer(_period);
        var last = TimeProvider.System.GetTimestamp();
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                var now = TimeProvider.System.GetTimestamp();
                var lateness = TimeProvider.System.GetElapsedTime(last, now) - _period;
                if (lateness.Ticks > Interlocked.Read(ref _worstLatenessTicks))
                {
                    Interlocked.Exchange(ref _worstLatenessTicks, lateness.Ticks);
                }

                last = now;
                Interlocked.Increment(ref _beats);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Stopped.
        }
    }
}
