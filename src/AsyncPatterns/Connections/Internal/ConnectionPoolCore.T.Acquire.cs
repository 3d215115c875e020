using System.Diagnostics;

namespace AsyncPatterns.Connections.Internal;

/// <summary>Acquire: the fast path for an idle connection, the FIFO of waiters, and the checks before a connection is leased.</summary>
internal sealed partial class ConnectionPoolCore<TConnection>
{
    public ValueTask<PooledConnection<TConnection>> AcquireAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<PooledConnection<TConnection>>(cancellationToken);
        }

        var now = _time.GetTimestamp();
        PoolEntry<TConnection>? entry = null;
        List<PoolEntry<TConnection>>? retired = null;
        Waiter? waiter = null;
        var create = false;
        var generation = 0;
        lock (_lock)
        {
            if (_disposed)
            {
                throw DisposedException();
            }

            if (_waiters.Count == 0)
            {
                entry = TakeIdle_Locked(now, ref retired);
                if (entry is null && Total < _maxSize)
                {
                    ReserveCreate_Locked();
                    create = true;
                    generation = _generation;
                }
            }

            if (entry is null && !create)
            {
                waiter = new Waiter();
                waiter.Node = _waiters.AddLast(waiter);
            }

            AssertInvariants();
        }

        if (retired is not null)
        {
            DestroyInBackground(retired);
        }

        var unusable = false;
        if (entry is not null)
        {
            unusable = !IsUsable(entry);
            if (!unusable && !NeedsValidation(entry, now))
            {
                return new ValueTask<PooledConnection<TConnection>>(Lease(entry, now, now));
            }
        }

        return AcquireSlowAsync(entry, unusable, waiter, create, generation, now, cancellationToken);
    }

    private async ValueTask<PooledConnection<TConnection>> AcquireSlowAsync(
        PoolEntry<TConnection>? entry, bool unusable, Waiter? waiter, bool create, int generation, long start, CancellationToken cancellationToken)
    {
        using var timeout = _acquireTimeout == Timeout.InfiniteTimeSpan ? null : new CancellationTokenSource(_acquireTimeout, _time);
        using var linked = timeout is null || !cancellationToken.CanBeCanceled ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var token = linked?.Token ?? timeout?.Token ?? cancellationToken;
        try
        {
            if (waiter is not null)
            {
                using (token.UnsafeRegister(static (state, canceledToken) => ((Waiter)state!).Pool!.CancelWaiter((Waiter)state!, canceledToken), SetPool(waiter)))
                {
                    entry = await waiter.Task.ConfigureAwait(false);
                }

                if (token.IsCancellationRequested)
                {
                    // Granted in the same instant the caller gave up: hand the grant on, so cancellation consumes nothing.
                    await GiveBackAsync(entry).ConfigureAwait(false);
                    token.ThrowIfCancellationRequested();
                }

                if (entry is null)
                {
                    create = true;
                    generation = waiter.Generation;
                }
                else
                {
                    // A connection handed over by a returning caller is checked like one taken from the stack: it may
                    // have come back unchecked from a validation its caller abandoned.
                    unusable = !IsUsable(entry);
                }
            }

            while (true)
            {
                if (create)
                {
                    entry = await CreateForCallerAsync(generation, token).ConfigureAwait(false);
                    return Lease(entry, _time.GetTimestamp(), start);
                }

                if (!unusable && (!NeedsValidation(entry!, _time.GetTimestamp()) || await ValidateAsync(entry!, token).ConfigureAwait(false)))
                {
                    return Lease(entry!, _time.GetTimestamp(), start);
                }

                (entry, unusable, create, generation) = await ReplaceFailedAsync(entry!).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
        catch (OperationCanceledException) when (timeout is not null && timeout.IsCancellationRequested)
        {
            Interlocked.Increment(ref _timeouts);
            ConnectionPoolMetrics.Timeouts.Add(1, PoolNameTag);
            throw new ConnectionPoolTimeoutException(Name, _maxSize, _acquireTimeout);
        }
    }

    /// <summary>
    /// The connection failed its check (not usable, or validation failed): destroy it and, keeping this caller's turn,
    /// take the next idle connection or, once the failed one is closed, create a new one in its slot.
    /// </summary>
    private async ValueTask<(PoolEntry<TConnection>? Entry, bool Unusable, bool Create, int Generation)> ReplaceFailedAsync(PoolEntry<TConnection> failed)
    {
        PoolEntry<TConnection>? next;
        List<PoolEntry<TConnection>>? retired = null;
        List<PoolEntry<TConnection>>? others = null;
        bool disposed;
        lock (_lock)
        {
            Retire_Locked(failed, ref retired);
            disposed = _disposed;
            next = disposed ? null : TakeIdle_Locked(_time.GetTimestamp(), ref others);
            AssertInvariants();
        }

        if (others is not null)
        {
            DestroyInBackground(others);
        }

        if (disposed || next is not null)
        {
            DestroyInBackground(retired!);
            return disposed ? throw DisposedException() : (next, !IsUsable(next!), false, 0);
        }

        await DestroyConnectionAsync(failed.Connection).ConfigureAwait(false);
        int generation;
        lock (_lock)
        {
            var reserved = DestroyedIntoCreate_Locked();
            generation = _generation;
            AssertInvariants();
            if (!reserved)
            {
                throw DisposedException();
            }
        }

        return (null, false, true, generation);
    }

    private ValueTask GiveBackAsync(PoolEntry<TConnection>? entry)
    {
        if (entry is not null)
        {
            return FinishReturnAsync(entry, destroy: false, _time.GetTimestamp(), entry.LastReturnedAt);
        }

        lock (_lock)
        {
            CreateFailed_Locked();
            AssertInvariants();
        }

        return default;
    }

    private Waiter SetPool(Waiter waiter)
    {
        waiter.Pool = this;
        return waiter;
    }

    private void CancelWaiter(Waiter waiter, CancellationToken token)
    {
        lock (_lock)
        {
            if (waiter.Node?.List is null)
            {
                return; // already granted (or failed by disposal): the grant stands and the caller handles it
            }

            _waiters.Remove(waiter.Node);
            waiter.TrySetCanceled(token);
            AssertInvariants();
        }
    }

    private PooledConnection<TConnection> Lease(PoolEntry<TConnection> entry, long now, long waitStart)
    {
        entry.LeasedAt = now;
        entry.Invalidated = false;
        entry.LeakReported = false;
        if (_leakThresholdTicks != long.MaxValue)
        {
            entry.AcquiredAt = new StackTrace(1, fNeedFileInfo: true).ToString();
        }

        if (ConnectionPoolMetrics.WaitTime.Enabled)
        {
            ConnectionPoolMetrics.WaitTime.Record(Seconds(waitStart, now), PoolNameTag);
        }

        return new PooledConnection<TConnection>(this, entry, Volatile.Read(ref entry.Version));
    }

    private bool NeedsValidation(PoolEntry<TConnection> entry, long now) =>
        _validateAfterIdleTicks != long.MaxValue && now - entry.LastReturnedAt >= _validateAfterIdleTicks;

    /// <summary>The cheap synchronous check of <see cref="ConnectionPoolOptions{TConnection}.IsUsable"/>; a hook that throws says "not usable".</summary>
    private bool IsUsable(PoolEntry<TConnection> entry)
    {
        if (_isUsable is null)
        {
            return true;
        }

        try
        {
            if (_isUsable(entry.Connection))
            {
                return true;
            }

            ConnectionPoolLog.ValidateFailed(_logger, Name, null);
            return false;
        }
        catch (Exception ex)
        {
            ConnectionPoolLog.ValidateFailed(_logger, Name, ex);
            return false;
        }
    }

    private async ValueTask<bool> ValidateAsync(PoolEntry<TConnection> entry, CancellationToken token)
    {
        try
        {
            if (await _validate!(entry.Connection, token).ConfigureAwait(false))
            {
                return true;
            }

            ConnectionPoolLog.ValidateFailed(_logger, Name, null);
            return false;
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The caller gave up while the connection was being checked: the connection is not known to be bad, so it
            // goes back to the pool unchanged, still due for validation (the next caller checks it first).
            await FinishReturnAsync(entry, destroy: false, _time.GetTimestamp(), entry.LastReturnedAt).ConfigureAwait(false);
            throw;
        }
        catch (Exception ex)
        {
            ConnectionPoolLog.ValidateFailed(_logger, Name, ex);
            return false;
        }
    }
}
