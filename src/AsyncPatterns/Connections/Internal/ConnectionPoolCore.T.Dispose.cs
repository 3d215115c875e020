namespace AsyncPatterns.Connections.Internal;

/// <summary>Dispose and destroy: the drain, the reclaim after DrainTimeout, destroying retired connections, and counted background work.</summary>
internal sealed partial class ConnectionPoolCore<TConnection>
{
    public ValueTask DisposeAsync()
    {
        TaskCompletionSource completion;
        List<PoolEntry<TConnection>>? idle = null;
        lock (_lock)
        {
            if (_disposeCompletion is not null)
            {
                return new ValueTask(_disposeCompletion.Task);
            }

            // One step: from here no acquire is accepted, nobody waits and nothing is idle.
            _disposed = true;
            _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _quiet = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _disposeCompletion = completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            while (_head is not null)
            {
                // Their continuations run asynchronously: nothing that follows (user callbacks on the shutdown token
                // among them) may keep them waiting.
                Complete_Locked(_head, WaitOutcome.Disposed, null);
            }
            foreach (var entry in _idle)
            {
                Retire_Locked(entry, ref idle);
            }

            _idle.Clear();
            CheckDrained_Locked();
            AssertInvariants();
        }

        return RunDisposeAsync(completion, idle);
    }

    private async ValueTask RunDisposeAsync(TaskCompletionSource completion, List<PoolEntry<TConnection>>? idle)
    {
        try
        {
            await DisposeCoreAsync(idle).ConfigureAwait(false);
            completion.TrySetResult();
        }
        catch (Exception ex)
        {
            completion.TrySetException(ex);
            throw;
        }
    }

    private async Task DisposeCoreAsync(List<PoolEntry<TConnection>>? idle)
    {
        await _housekeeper.DisposeAsync().ConfigureAwait(false);
        if (_waitTimer is not null)
        {
            await _waitTimer.DisposeAsync().ConfigureAwait(false);
        }
        try
        {
            await _shutdown.CancelAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // A hook registered a cancellation callback that throws: every callback has run; disposal goes on.
            ConnectionPoolLog.BackgroundFailed(_logger, Name, ex);
        }

        var destroyIdle = DestroyAllAsync(idle);
        try
        {
            await _drained!.Task.WaitAsync(_drainTimeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Leases still out after DrainTimeout are reclaimed: their leases die and the connections are destroyed.
        }

        List<PoolEntry<TConnection>>? reclaimed = null;
        lock (_lock)
        {
            foreach (var entry in _all.ToArray())
            {
                if (entry.State == PoolEntryState.Busy)
                {
                    Interlocked.Increment(ref entry.Version);
                    Retire_Locked(entry, ref reclaimed);
                }
            }

            AssertInvariants();
        }

        if (reclaimed is not null)
        {
            ConnectionPoolLog.DrainTimedOut(_logger, Name, _drainTimeout, reclaimed.Count);
        }

        // Destroy hooks and background work get their own DrainTimeout, so disposal takes at most about twice the drain timeout.
        var cleanup = Task.WhenAll(destroyIdle, DestroyAllAsync(reclaimed), _quiet!.Task);
        try
        {
            await cleanup.WaitAsync(_drainTimeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            ConnectionPoolLog.CleanupTimedOut(_logger, Name, _drainTimeout);
        }
        finally
        {
            ConnectionPoolMetrics.Unregister(this);
        }
    }

    private void DestroyInBackground(List<PoolEntry<TConnection>> retired) => RunInBackground(() => DestroyAllAsync(retired));

    private async Task DestroyAllAsync(List<PoolEntry<TConnection>>? entries)
    {
        if (entries is null)
        {
            return;
        }

        foreach (var entry in entries)
        {
            await DestroyRetiredAsync(entry).ConfigureAwait(false);
        }
    }

    /// <summary>Destroys a retired connection, then frees its slot for waiters (or the MinSize refill).</summary>
    private async ValueTask DestroyRetiredAsync(PoolEntry<TConnection> entry)
    {
        try
        {
            await DestroyConnectionAsync(entry.Connection).ConfigureAwait(false);
        }
        finally
        {
            lock (_lock)
            {
                Destroyed_Locked();
                AssertInvariants();
            }
        }
    }

    private async ValueTask DestroyConnectionAsync(TConnection connection)
    {
        try
        {
            if (_destroy is not null)
            {
                await _destroy(connection).ConfigureAwait(false);
            }
            else if (connection is IAsyncDisposable asyncDisposable)
            {
                await asyncDisposable.DisposeAsync().ConfigureAwait(false);
            }
            else if (connection is IDisposable disposable)
            {
                disposable.Dispose();
            }
        }
        catch (Exception ex)
        {
            ConnectionPoolLog.DestroyFailed(_logger, Name, ex);
        }
    }

    private void RunInBackground(Func<Task> work)
    {
        lock (_lock)
        {
            StartBackground_Locked(work);
            AssertInvariants();
        }
    }

    /// <summary>
    /// Runs pool-owned work on the thread pool. Every such task is counted under the lock, and
    /// <see cref="DisposeAsync"/> waits (up to DrainTimeout) for the count to reach zero, including work started after
    /// disposal began; a failure is logged, never lost.
    /// </summary>
    private void StartBackground_Locked(Func<Task> work)
    {
        _background++;
        _ = Task.Run(async () =>
        {
            try
            {
                await work().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                ConnectionPoolLog.BackgroundFailed(_logger, Name, ex);
            }
            finally
            {
                lock (_lock)
                {
                    _background--;
                    CheckDrained_Locked();
                    AssertInvariants();
                }
            }
        });
    }
}
