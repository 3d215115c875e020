namespace AsyncPatterns.Connections.Internal;

/// <summary>Housekeeping: the periodic pass (expiry, idle eviction, leak detection, refill) and <see cref="Clear"/>.</summary>
internal sealed partial class ConnectionPoolCore<TConnection>
{
    public void Clear()
    {
        List<PoolEntry<TConnection>>? retired = null;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _generation++;
            foreach (var entry in _idle)
            {
                Retire_Locked(entry, ref retired);
            }

            _idle.Clear();
            AssertInvariants();
        }

        if (retired is not null)
        {
            DestroyInBackground(retired);
        }
    }

    /// <summary>
    /// The periodic pass, on a timer thread: retires expired and long-idle connections (down to MinSize), reports
    /// leaks, refills. It calls no user code but the logger, whose failures <see cref="ConnectionPoolLog"/> contains.
    /// </summary>
    private void Housekeep()
    {
        List<PoolEntry<TConnection>>? retired = null;
        List<(TimeSpan HeldFor, string AcquiredAt)>? leaks = null;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            var now = _time.GetTimestamp();
            for (var i = _idle.Count - 1; i >= 0; i--)
            {
                var entry = _idle[i];
                if (now >= entry.ExpiresAt || entry.Generation != _generation)
                {
                    _idle.RemoveAt(i);
                    Retire_Locked(entry, ref retired);
                }
            }

            if (_idleTimeoutTicks != long.MaxValue)
            {
                // Index 0 is the connection returned longest ago.
                for (var i = 0; i < _idle.Count && Open > _minSize;)
                {
                    var entry = _idle[i];
                    if (now - entry.LastReturnedAt >= _idleTimeoutTicks)
                    {
                        _idle.RemoveAt(i);
                        Retire_Locked(entry, ref retired);
                    }
                    else
                    {
                        i++;
                    }
                }
            }

            if (_leakThresholdTicks != long.MaxValue)
            {
                foreach (var entry in _all)
                {
                    if (entry.State == PoolEntryState.Busy && !entry.LeakReported && now - entry.LeasedAt >= _leakThresholdTicks)
                    {
                        entry.LeakReported = true;
                        (leaks ??= []).Add((_time.GetElapsedTime(entry.LeasedAt, now), entry.AcquiredAt ?? "(unknown)"));
                    }
                }
            }

            SlotsFreed_Locked();
            AssertInvariants();
        }

        if (leaks is not null)
        {
            foreach (var (heldFor, acquiredAt) in leaks)
            {
                ConnectionPoolLog.LeakSuspected(_logger, Name, heldFor, _leakThreshold, acquiredAt);
            }
        }

        if (retired is not null)
        {
            DestroyInBackground(retired);
        }
    }

    private static TimeSpan HousekeepingPeriod(ConnectionPoolOptions<TConnection> options)
    {
        var shortest = TimeSpan.FromSeconds(120);
        foreach (var candidate in new[] { options.IdleTimeout, options.MaxLifetime, options.LeakDetectionThreshold })
        {
            if (candidate != Timeout.InfiniteTimeSpan && candidate < shortest)
            {
                shortest = candidate;
            }
        }

        // A quarter of the shortest time limit, between 10 ms and 30 s: limits are enforced within 25 % of their value.
        return TimeSpan.FromTicks(Math.Clamp(shortest.Ticks / 4, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond * 30));
    }
}
