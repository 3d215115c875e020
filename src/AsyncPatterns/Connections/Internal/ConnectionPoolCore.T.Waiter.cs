using System.Threading.Tasks.Sources;
using AsyncPatterns.Internal;

namespace AsyncPatterns.Connections.Internal;

/// <summary>
/// The waiters: a reusable <see cref="IValueTaskSource{TResult}"/> per queued acquire, an intrusive FIFO that is also
/// ordered by deadline (every waiter gets the same AcquireTimeout when it is queued), and one timer for all of them.
/// <para>
/// A waiter is completed exactly once per use, by whoever removes it from the queue under the lock (a grant, the
/// caller's cancellation, the acquire timeout, or disposal), and its continuation always runs asynchronously, never
/// under the lock or on the thread of the caller that returned the connection. It goes back to the free list only after
/// its owner has read the result and disposed the registration on its token (which waits for a running callback), so
/// a late callback of one acquire can never touch the next acquire that reuses it; the
/// <see cref="ManualResetValueTaskSourceCore{TResult}.Version"/> changes on every reuse.
/// </para>
/// </summary>
internal sealed partial class ConnectionPoolCore<TConnection>
{
    /// <summary>Reused waiters kept at most; more than this many concurrent waiters allocate and are dropped afterwards.</summary>
    private const int MaxFreeWaiters = 256;

    private static readonly Action<object?, CancellationToken> s_cancelWaiter =
        static (state, _) => ((Waiter)state!).Pool.CancelWaiter((Waiter)state!);

    private Waiter? _head;
    private Waiter? _tail;
    private int _waiterCount;
    private Waiter? _freeWaiters;
    private int _freeWaiterCount;

    /// <summary>When the wait timer is due, as a timestamp; <see cref="long.MaxValue"/> while it is disarmed.</summary>
    private long _waitTimerDue = long.MaxValue;

    private enum WaitOutcome
    {
        Granted,
        Canceled,
        TimedOut,
        Disposed,
    }

    /// <summary>Takes a waiter from the free list (or a new one) and queues it at the tail, arming the timer if it is the earliest deadline.</summary>
    private Waiter Enqueue_Locked(long now)
    {
        var waiter = PopFreeWaiter_Locked() ?? new Waiter(this);

        waiter.Deadline = _acquireTimeoutTicks == long.MaxValue ? long.MaxValue : now + _acquireTimeoutTicks;
        waiter.Queued = true;
        waiter.Prev = _tail;
        if (_tail is null)
        {
            _head = waiter;
        }
        else
        {
            _tail.Next = waiter;
        }

        _tail = waiter;
        _waiterCount++;
        if (waiter.Deadline < _waitTimerDue)
        {
            ArmWaitTimer_Locked(waiter.Deadline, now);
        }

        return waiter;
    }

    /// <summary>Removes a queued waiter and completes it with <paramref name="outcome"/> (its continuation runs on the thread pool).</summary>
    private void Complete_Locked(Waiter waiter, WaitOutcome outcome, PoolEntry<TConnection>? entry) =>
        Dequeue_Locked(waiter, outcome, entry).Schedule();

    /// <summary>
    /// Removes a queued waiter and records its outcome; the caller completes it with <see cref="Waiter.Schedule"/>, after
    /// the lock is released where it can. Once dequeued, nothing else (cancellation, the timer, disposal) can reach it.
    /// </summary>
    private Waiter Dequeue_Locked(Waiter waiter, WaitOutcome outcome, PoolEntry<TConnection>? entry)
    {
        if (waiter.Prev is null)
        {
            _head = waiter.Next;
        }
        else
        {
            waiter.Prev.Next = waiter.Next;
        }

        if (waiter.Next is null)
        {
            _tail = waiter.Prev;
        }
        else
        {
            waiter.Next.Prev = waiter.Prev;
        }

        waiter.Prev = waiter.Next = null;
        waiter.Queued = false;
        _waiterCount--;
        waiter.Outcome = outcome;
        waiter.Generation = _generation;
        waiter.Entry = entry;
        return waiter;
    }

    /// <summary>
    /// Gives a waiter whose result has been read back to the free list, without the lock; a new
    /// <see cref="Waiter.Token"/> comes with it. The free list is a stack that many threads push to (here) and only the
    /// lock's holder pops from (<see cref="PopFreeWaiter_Locked"/>), so it needs no lock and has no ABA problem: a waiter
    /// on the stack cannot be popped and pushed again by anyone but the single popper. The count is reserved before the
    /// push, so it never exceeds <see cref="MaxFreeWaiters"/> and is never below the stack's length.
    /// </summary>
    private void Recycle(Waiter waiter)
    {
        waiter.Reset();
        int count;
        do
        {
            count = Volatile.Read(ref _freeWaiterCount);
            if (count >= MaxFreeWaiters)
            {
                return; // more concurrent waiters than are kept: this one is dropped
            }
        }
        while (Interlocked.CompareExchange(ref _freeWaiterCount, count + 1, count) != count);

        Waiter? head;
        do
        {
            head = Volatile.Read(ref _freeWaiters);
            waiter.Next = head;
        }
        while (Interlocked.CompareExchange(ref _freeWaiters, waiter, head) != head);
    }

    /// <summary>Pops a recycled waiter, or returns <see langword="null"/>; only ever called under the lock (the stack's single popper).</summary>
    private Waiter? PopFreeWaiter_Locked()
    {
        Waiter? waiter;
        do
        {
            waiter = Volatile.Read(ref _freeWaiters);
            if (waiter is null)
            {
                return null;
            }
        }
        while (Interlocked.CompareExchange(ref _freeWaiters, waiter.Next, waiter) != waiter);

        Interlocked.Decrement(ref _freeWaiterCount);
        waiter.Next = null;
        return waiter;
    }

    private void CancelWaiter(Waiter waiter)
    {
        lock (_lock)
        {
            if (waiter.Queued)
            {
                Complete_Locked(waiter, WaitOutcome.Canceled, null);
            }

            AssertInvariants();
        }
    }

    private void ArmWaitTimer_Locked(long deadline, long now)
    {
        _waitTimerDue = deadline;

        // Whole milliseconds, rounded up and at least one: a timer that fires a fraction early just re-arms once.
        var ticks = _time.GetElapsedTime(now, deadline).Ticks;
        var milliseconds = Math.Max(1, (ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond);
        var due = TimeSpan.FromMilliseconds(Math.Min(milliseconds, (long)TimerLimits.MaxDueTime.TotalMilliseconds));
        _waitTimer!.Change(due, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The wait timer: times out every waiter whose deadline has passed (they are at the head), then re-arms for the next one.</summary>
    private void OnWaitTimer()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _waitTimerDue = long.MaxValue;
            var now = _time.GetTimestamp();
            while (_head is not null && _head.Deadline <= now)
            {
                Complete_Locked(_head, WaitOutcome.TimedOut, null);
            }

            if (_head is not null)
            {
                ArmWaitTimer_Locked(_head.Deadline, now);
            }

            AssertInvariants();
        }
    }

    /// <summary>
    /// A queued acquire. Its fields other than the core are guarded by the pool's lock until it is dequeued; after that
    /// only the one that dequeued it (who calls <see cref="Schedule"/>) and then its owner touch it. It is its own
    /// thread-pool work item, as System.Threading.Channels' operations are: completing it queues it, and the result is set
    /// (and the awaiting acquire resumed) on a thread-pool thread, never under the lock or on the thread of the caller
    /// that returned the connection, at no allocation.
    /// </summary>
    private sealed class Waiter(ConnectionPoolCore<TConnection> pool) : IValueTaskSource<PoolEntry<TConnection>?>, IThreadPoolWorkItem
    {
        // Continuations run synchronously from Execute, which already runs on the thread pool.
        private ManualResetValueTaskSourceCore<PoolEntry<TConnection>?> _core;

        public readonly ConnectionPoolCore<TConnection> Pool = pool;
        public Waiter? Prev;
        public Waiter? Next;
        public bool Queued;
        public long Deadline;
        public int Generation;
        public WaitOutcome Outcome;

        /// <summary>The connection granted (or <see langword="null"/>: a slot to create in, or no grant), set when dequeued.</summary>
        public PoolEntry<TConnection>? Entry;

        public short Token => _core.Version;

        /// <summary>Completes the dequeued waiter: its result is set on a thread-pool thread.</summary>
        public void Schedule() => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);

        void IThreadPoolWorkItem.Execute()
        {
            var entry = Entry;
            Entry = null;
            _core.SetResult(entry);
        }

        public void Reset() => _core.Reset();

        public PoolEntry<TConnection>? GetResult(short token) => _core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
