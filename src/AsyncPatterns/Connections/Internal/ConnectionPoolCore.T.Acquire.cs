using System.Diagnostics;

namespace AsyncPatterns.Connections.Internal;

/// <summary>Acquire: the fast path for an idle connection, the FIFO of waiters, and the checks before a connection is leased.</summary>
internal sealed partial class ConnectionPoolCore<TConnection>
{
    /// <summary>The value of a timestamp that was not read (the clock is read only for the features that need it).</summary>
    private const long NoTime = long.MinValue;

    public ValueTask<PooledConnection<TConnection>> AcquireAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<PooledConnection<TConnection>>(cancellationToken);
        }

        var now = LeaseTime();
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

            if (_waiterCount == 0)
            {
                entry = TakeIdle_Locked(now, ref retired);
                if (entry is null && Total < _maxSize)
                {
                    ReserveCreate_Locked();
                    create = true;
                    generation = _generation;
                }
            }

            if (entry is null)
            {
                if (now == NoTime)
                {
                    now = _time.GetTimestamp(); // the slow path always knows when it started: the deadline and the wait time
                }

                if (!create)
                {
                    waiter = Enqueue_Locked(now);
                }
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

            if (now == NoTime)
            {
                now = _time.GetTimestamp();
            }
        }

        return AcquireSlowAsync(entry, unusable, waiter, create, generation, now, cancellationToken);
    }

    /// <summary>
    /// The acquire that waits, creates or validates. Its state machine is pooled, so the awaited
    /// <see cref="ValueTask{TResult}"/> must be awaited once only (as <see cref="ValueTask{TResult}"/> requires): a second
    /// await throws <see cref="InvalidOperationException"/> or, once the box was reused, is undefined.
    /// </summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<PooledConnection<TConnection>> AcquireSlowAsync(
        PoolEntry<TConnection>? entry, bool unusable, Waiter? waiter, bool create, int generation, long start, CancellationToken cancellationToken)
    {
        var deadline = _acquireTimeoutTicks == long.MaxValue ? long.MaxValue : start + _acquireTimeoutTicks;
        if (waiter is not null)
        {
            // A registration on the caller's token, no linked source; the acquire timeout is the pool's one wait timer.
            // Disposing the registration waits for a callback that is running, so no callback of this acquire can
            // touch the waiter once it is recycled for another.
            using (cancellationToken.UnsafeRegister(s_cancelWaiter, waiter))
            {
                entry = await new ValueTask<PoolEntry<TConnection>?>(waiter, waiter.Token).ConfigureAwait(false);
            }

            var outcome = waiter.Outcome;
            generation = waiter.Generation;
            Recycle(waiter);
            switch (outcome)
            {
                case WaitOutcome.Canceled:
                    throw new OperationCanceledException(cancellationToken);
                case WaitOutcome.TimedOut:
                    throw TimedOut();
                case WaitOutcome.Disposed:
                    throw DisposedException(" while waiting for a connection");
            }

            if (cancellationToken.IsCancellationRequested)
            {
                // Granted in the same instant the caller gave up: hand the grant on, so cancellation consumes nothing.
                await GiveBackAsync(entry).ConfigureAwait(false);
                throw new OperationCanceledException(cancellationToken);
            }

            if (entry is null)
            {
                create = true;
            }
            else
            {
                // A connection handed over by a returning caller is checked like one taken from the stack: it may
                // have come back unchecked from a validation its caller abandoned.
                unusable = !IsUsable(entry);
            }
        }

        CancellationTokenSource? timeout = null;
        var link = default(CancellationTokenRegistration);
        try
        {
            while (true)
            {
                if (create)
                {
                    entry = await CreateForCallerAsync(generation, HookToken(deadline, cancellationToken, ref timeout, ref link)).ConfigureAwait(false);
                    return Lease(entry, _time.GetTimestamp(), start);
                }

                if (!unusable)
                {
                    var now = LeaseTime();
                    if (!NeedsValidation(entry!, now))
                    {
                        return Lease(entry!, now, start);
                    }

                    if (await ValidateAsync(entry!, HookToken(deadline, cancellationToken, ref timeout, ref link)).ConfigureAwait(false))
                    {
                        return Lease(entry!, _time.GetTimestamp(), start);
                    }
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
            throw TimedOut();
        }
        finally
        {
            await link.DisposeAsync().ConfigureAwait(false);
            timeout?.Dispose();
        }
    }

    /// <summary>
    /// The token for a hook (create, validate) that runs after the wait: the caller's token and, with an acquire
    /// timeout, what is left of it. The timer-backed source is made once, on first need, and follows the caller's
    /// token through a registration instead of a linked source.
    /// </summary>
    private CancellationToken HookToken(long deadline, CancellationToken cancellationToken, ref CancellationTokenSource? timeout, ref CancellationTokenRegistration link)
    {
        if (deadline == long.MaxValue)
        {
            return cancellationToken;
        }

        if (timeout is null)
        {
            var remaining = _time.GetElapsedTime(_time.GetTimestamp(), deadline);
            timeout = new CancellationTokenSource(remaining < TimeSpan.Zero ? TimeSpan.Zero : remaining, _time);
            link = cancellationToken.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), timeout);
        }

        return timeout.Token;
    }

    private ConnectionPoolTimeoutException TimedOut()
    {
        Interlocked.Increment(ref _timeouts);
        CountTimeout();
        return new ConnectionPoolTimeoutException(Name, _maxSize, _acquireTimeout);
    }

    /// <summary>The time a lease starts, or <see cref="NoTime"/> when nothing configured needs it.</summary>
    private long LeaseTime() =>
        _acquireReadsClock || ConnectionPoolMetrics.UseTime.Enabled || ConnectionPoolMetrics.WaitTime.Enabled ? _time.GetTimestamp() : NoTime;

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

    private PooledConnection<TConnection> Lease(PoolEntry<TConnection> entry, long now, long waitStart)
    {
        entry.LeasedAt = now;
        entry.Invalidated = false;
        entry.LeakReported = false;
        if (_leakThresholdTicks != long.MaxValue)
        {
            entry.AcquiredAt = new StackTrace(1, fNeedFileInfo: true).ToString();
        }

        if (ConnectionPoolMetrics.WaitTime.Enabled && now != NoTime)
        {
            Record(ConnectionPoolMetrics.WaitTime, Seconds(waitStart, now));
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
