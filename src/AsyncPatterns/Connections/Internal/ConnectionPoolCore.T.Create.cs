namespace AsyncPatterns.Connections.Internal;

/// <summary>Create: a connection for a caller in its reserved slot, and the background refill to MinSize.</summary>
internal sealed partial class ConnectionPoolCore<TConnection>
{
    private async ValueTask<PoolEntry<TConnection>> CreateForCallerAsync(int generation, CancellationToken token)
    {
        var started = _time.GetTimestamp();
        TConnection connection;
        try
        {
            connection = await _create(token).ConfigureAwait(false);
        }
        catch
        {
            lock (_lock)
            {
                CreateFailed_Locked();
                AssertInvariants();
            }

            throw;
        }

        var now = _time.GetTimestamp();
        RecordCreateTime(started, now);
        var entry = NewEntry(connection, now, generation);
        bool leased;
        lock (_lock)
        {
            leased = Created_Locked(entry);
            AssertInvariants();
        }

        if (!leased)
        {
            await DestroyRetiredAsync(entry).ConfigureAwait(false);
            throw DisposedException();
        }

        return entry;
    }

    /// <summary>A new entry for a connection just created; the lifetime jitter is drawn here, outside the lock.</summary>
    private PoolEntry<TConnection> NewEntry(TConnection connection, long now, int generation)
    {
        var expiresAt = long.MaxValue;
        if (_maxLifetimeTicks != long.MaxValue)
        {
            double random;
            try
            {
                random = _randomizer();
            }
            catch (Exception)
            {
                random = 0; // documented: a Randomizer that throws gives this connection its full lifetime
            }

            random = double.IsNaN(random) ? 0 : Math.Clamp(random, 0.0, 1.0);
            expiresAt = now + _maxLifetimeTicks - (long)(_maxLifetimeTicks * _jitter * random);
        }

        return new PoolEntry<TConnection>(connection, now, expiresAt, generation);
    }

    private void ScheduleRefill_Locked()
    {
        if (_disposed || _refilling || _minSize == 0)
        {
            return;
        }

        var missing = _minSize - Total;
        if (missing <= 0)
        {
            return;
        }

        _refilling = true;
        ReserveCreate_Locked(missing);
        var generation = _generation;
        StartBackground_Locked(() => RefillAsync(missing, generation));
    }

    /// <summary>
    /// Creates <paramref name="count"/> connections in slots reserved by <see cref="ScheduleRefill_Locked"/>, one at a
    /// time. It stops as soon as disposal begins (giving back the slots it did not use) and after a failed create,
    /// giving the slots to waiters; the pool itself retries at its next housekeeping pass.
    /// </summary>
    private async Task RefillAsync(int count, int generation)
    {
        var remaining = count; // reserved slots not yet turned into connections; changed only under the lock
        try
        {
            while (true)
            {
                lock (_lock)
                {
                    if (_disposed || remaining == 0)
                    {
                        CreateFailed_Locked(remaining);
                        remaining = 0;
                        _refilling = false;
                        ScheduleRefill_Locked();
                        AssertInvariants();
                        return;
                    }
                }

                var started = _time.GetTimestamp();
                TConnection connection;
                try
                {
                    connection = await _create(_shutdown.Token).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    if (!_shutdown.IsCancellationRequested)
                    {
                        ConnectionPoolLog.CreateFailed(_logger, Name, ex);
                    }

                    lock (_lock)
                    {
                        // Still marked as refilling, so the freed slots go to waiters without starting another refill at once.
                        CreateFailed_Locked(remaining);
                        remaining = 0;
                        _refilling = false;
                        AssertInvariants();
                    }

                    return;
                }

                var now = _time.GetTimestamp();
                RecordCreateTime(started, now);
                var entry = NewEntry(connection, now, generation);
                bool pooled;
                Waiter? granted = null;
                lock (_lock)
                {
                    remaining--;
                    pooled = Created_Locked(entry);
                    if (pooled)
                    {
                        granted = Release_Locked(entry, now);
                    }

                    AssertInvariants();
                }

                granted?.Schedule();

                if (!pooled)
                {
                    await DestroyRetiredAsync(entry).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            if (remaining > 0)
            {
                // Only reached if something other than the create hook threw: give the reserved slots back.
                lock (_lock)
                {
                    CreateFailed_Locked(remaining);
                    _refilling = false;
                    AssertInvariants();
                }
            }
        }
    }
}
