namespace AsyncPatterns.Connections.Internal;

/// <summary>Return: invalidation, the reset hook, and a returned connection going to a waiter, the idle stack or its destruction.</summary>
internal sealed partial class ConnectionPoolCore<TConnection>
{
    public bool Invalidate(PoolEntry<TConnection> entry, int version)
    {
        lock (_lock)
        {
            if (Volatile.Read(ref entry.Version) != version)
            {
                return false;
            }

            entry.Invalidated = true;
            return true;
        }
    }

    public ValueTask ReturnAsync(PoolEntry<TConnection> entry, int version)
    {
        if (Interlocked.CompareExchange(ref entry.Version, unchecked(version + 1), version) != version)
        {
            return default;
        }

        var now = _returnReadsClock || ConnectionPoolMetrics.UseTime.Enabled ? _time.GetTimestamp() : NoTime;
        if (ConnectionPoolMetrics.UseTime.Enabled && now != NoTime && entry.LeasedAt != NoTime)
        {
            Record(ConnectionPoolMetrics.UseTime, Seconds(entry.LeasedAt, now));
        }

        // A connection its user closed, or whose provider noticed the server went away, is destroyed, not pooled.
        var destroy = entry.Invalidated || now >= entry.ExpiresAt || entry.Generation != Volatile.Read(ref _generation) || Volatile.Read(ref _disposed)
            || !IsUsable(entry);
        if (!destroy && _reset is not null)
        {
            return ResetAndReturnAsync(entry);
        }

        return FinishReturnAsync(entry, destroy, now, now);
    }

    private async ValueTask ResetAndReturnAsync(PoolEntry<TConnection> entry)
    {
        var destroy = false;
        try
        {
            await _reset!(entry.Connection, _shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            ConnectionPoolLog.ResetFailed(_logger, Name, ex);
            destroy = true;
        }

        var now = _time.GetTimestamp();
        await FinishReturnAsync(entry, destroy, now, now).ConfigureAwait(false);
    }

    /// <summary>
    /// Ends a lease: the connection goes to the longest waiter or the idle stack (with <paramref name="idleSince"/> as
    /// the time it was last known good), or is retired and destroyed when it is broken, expired, cleared or the pool is
    /// disposed.
    /// </summary>
    private ValueTask FinishReturnAsync(PoolEntry<TConnection> entry, bool destroy, long now, long idleSince)
    {
        Waiter? granted = null;
        var retire = false;
        lock (_lock)
        {
            if (entry.State != PoolEntryState.Busy)
            {
                return default; // reclaimed by DisposeAsync after its drain timeout
            }

            if (destroy || _disposed || entry.Generation != _generation || now >= entry.ExpiresAt)
            {
                List<PoolEntry<TConnection>>? retired = null;
                Retire_Locked(entry, ref retired);
                retire = true;
            }
            else
            {
                granted = Release_Locked(entry, idleSince);
            }

            AssertInvariants();
        }

        if (retire)
        {
            return DestroyRetiredAsync(entry); // the destroy hook runs outside the lock
        }

        // A hand-off to the longest waiter is completed outside the lock: one lock take per return.
        granted?.Schedule();
        return default;
    }
}
