using System.Threading.RateLimiting;

namespace AsyncPatterns.RateLimiting.Internal;

/// <summary>
/// An acquire waiting in a limiter's queue: the permits it asks for, its cancellation registration, and its links in
/// the <see cref="WaiterQueue{TWaiter}"/>. Compiled into AsyncPatterns and (linked) into AsyncPatterns.Redis, whose
/// limiters queue their waiters the same way.
/// </summary>
/// <typeparam name="TWaiter">The limiter's own waiter type.</typeparam>
internal abstract class QueuedWaiter<TWaiter>(int count)
    : TaskCompletionSource<RateLimitLease>(TaskCreationOptions.RunContinuationsAsynchronously)
    where TWaiter : QueuedWaiter<TWaiter>
{
    public int Count { get; } = count;

    public CancellationTokenRegistration Registration { get; set; }

    /// <summary>True from <see cref="WaiterQueue{TWaiter}.Append"/> to <see cref="WaiterQueue{TWaiter}.Remove"/>: only the code that removes a waiter completes it.</summary>
    public bool Queued { get; set; }

    public TWaiter? Prev { get; set; }

    /// <summary>The next waiter in the queue; out of it, the next one of a chain of removed waiters to complete.</summary>
    public TWaiter? Next { get; set; }
}

/// <summary>
/// The intrusive doubly linked queue of a limiter's waiters: O(1) append and removal (a cancelled waiter leaves from
/// anywhere), served from the head (oldest first) or the tail (newest first), with the sum of the queued permits. Not
/// thread-safe: used under its limiter's lock.
/// </summary>
/// <typeparam name="TWaiter">The limiter's own waiter type.</typeparam>
internal sealed class WaiterQueue<TWaiter>
    where TWaiter : QueuedWaiter<TWaiter>
{
    /// <summary>The oldest waiter, or <see langword="null"/> when the queue is empty.</summary>
    public TWaiter? Head { get; private set; }

    /// <summary>The newest waiter.</summary>
    public TWaiter? Tail { get; private set; }

    /// <summary>The sum of the queued waiters' permit counts.</summary>
    public int PermitCount { get; private set; }

    public bool IsEmpty => Head is null;

    /// <summary>The waiter served next under <paramref name="order"/>.</summary>
    public TWaiter? Next(QueueProcessingOrder order) => order == QueueProcessingOrder.OldestFirst ? Head : Tail;

    public void Append(TWaiter waiter)
    {
        waiter.Queued = true;
        waiter.Prev = Tail;
        if (Tail is null)
        {
            Head = waiter;
        }
        else
        {
            Tail.Next = waiter;
        }

        Tail = waiter;
        PermitCount += waiter.Count;
    }

    public void Remove(TWaiter waiter)
    {
        if (waiter.Prev is null)
        {
            Head = waiter.Next;
        }
        else
        {
            waiter.Prev.Next = waiter.Next;
        }

        if (waiter.Next is null)
        {
            Tail = waiter.Prev;
        }
        else
        {
            waiter.Next.Prev = waiter.Prev;
        }

        waiter.Prev = null;
        waiter.Next = null;
        waiter.Queued = false;
        PermitCount -= waiter.Count;
    }

    /// <summary>Removes every waiter (unregistering its cancellation) and returns them, oldest first, as a chain through <see cref="QueuedWaiter{TWaiter}.Next"/>.</summary>
    public TWaiter? TakeAll()
    {
        TWaiter? first = null;
        TWaiter? last = null;
        while (Head is { } waiter)
        {
            Remove(waiter);
            waiter.Registration.Unregister();
            if (last is null)
            {
                first = waiter;
            }
            else
            {
                last.Next = waiter;
            }

            last = waiter;
        }

        return first;
    }

    /// <summary>For the owners' <c>AssertInvariants</c>: every waiter in the queue is marked queued, and <see cref="PermitCount"/> is the sum of their counts.</summary>
    public bool IsConsistent()
    {
        var count = 0;
        for (var waiter = Head; waiter is not null; waiter = waiter.Next)
        {
            if (!waiter.Queued)
            {
                return false;
            }

            count += waiter.Count;
        }

        return count == PermitCount;
    }
}
