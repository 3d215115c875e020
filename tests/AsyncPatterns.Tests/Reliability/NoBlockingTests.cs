using System.Net;
using AsyncPatterns.BackgroundTasks;
using AsyncPatterns.Connections;
using AsyncPatterns.Http;
using AsyncPatterns.Pagination;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.Retries;
using AsyncPatterns.TaskGroups;
using AsyncPatterns.Tests.Http;
using AsyncPatterns.Timeouts;

namespace AsyncPatterns.Tests.Reliability;

/// <summary>Runs alone: <see cref="NoBlockingTests"/> shrinks the process-wide thread pool.</summary>
[CollectionDefinition(nameof(NoBlockingCollection), DisableParallelization = true)]
public sealed class NoBlockingCollection;

/// <summary>
/// The library never blocks a thread. Every operation runs on a single-threaded <see cref="SynchronizationContext"/>
/// (<see cref="SingleThreadedContext"/>) while the thread pool may not grow past its minimum. Each test starts the
/// operation, checks that the call returned while the operation is still pending, and only then releases, from the
/// same context thread, what the operation waits for (a gate, a lease, a fake clock). Library code that blocked the
/// calling thread (sync-over-async), or needed more pool threads than the minimum to make progress, would never see
/// the release: <see cref="SingleThreadedContext.RunAsync(Func{Task}, TimeSpan)"/> reports the deadlock as a
/// <see cref="TimeoutException"/> instead of hanging.
/// </summary>
[Collection(nameof(NoBlockingCollection))]
public sealed class NoBlockingTests
{
    private static readonly TimeSpan s_deadlock = TimeSpan.FromSeconds(15);

    [Fact]
    public Task OperationTimeout_RunAndTimeOutOnFakeClock_CompleteWithoutBlocking() => RunConstrainedAsync(async () =>
    {
        var gate = NewGate();
        var run = OperationTimeout.RunAsync(ct => gate.Task.WaitAsync(ct), TimeSpan.FromMinutes(1), cancellationToken: Ct);
        run.IsCompleted.Should().BeFalse();
        gate.SetResult();
        await run;

        var time = FakeClock.Create();
        var attempt = OperationTimeout.TryRunAsync(async ct =>
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, time, ct);
            return 1;
        }, TimeSpan.FromSeconds(1), time, Ct);
        attempt.IsCompleted.Should().BeFalse();
        var result = await time.AdvanceUntilCompletedAsync(attempt, TimeSpan.FromMilliseconds(250));
        result.TimedOut.Should().BeTrue();
    });

    [Fact]
    public Task Retry_BackoffOnFakeClock_CompletesWithoutBlocking() => RunConstrainedAsync(async () =>
    {
        var time = FakeClock.Create();
        var attempts = 0;
        var retry = Retry.ExecuteAsync(
            _ => ++attempts < 3 ? throw new InvalidOperationException("transient") : Task.FromResult(42),
            new RetryOptions { MaxRetries = 3, BaseDelay = TimeSpan.FromSeconds(1), UseJitter = false, TimeProvider = time },
            Ct);
        retry.IsCompleted.Should().BeFalse("the first backoff waits on the fake clock");
        (await time.AdvanceUntilCompletedAsync(retry, TimeSpan.FromMilliseconds(500))).Should().Be(42);
        attempts.Should().Be(3);
    });

    [Fact]
    public Task RequestRateLimiter_QueuedAcquireReleasedFromTheSameThread_CompletesWithoutBlocking() => RunConstrainedAsync(async () =>
    {
        using var limiter = new RequestRateLimiter(new RequestRateLimiterOptions { MaxConcurrency = 1 });
        var first = await limiter.AcquireAsync(Ct);
        first.IsAcquired.Should().BeTrue();
        var queued = limiter.AcquireAsync(Ct).AsTask();
        queued.IsCompleted.Should().BeFalse("the second caller queues behind the first lease");
        first.Dispose();
        using var second = await queued;
        second.IsAcquired.Should().BeTrue();
    });

    [Fact]
    public Task TokenBucketLimiter_QueuedAcquireOnFakeClock_CompletesWithoutBlocking() => RunConstrainedAsync(async () =>
    {
        var time = FakeClock.Create();
        using var limiter = new TokenBucketLimiter(new TokenBucketLimiterOptions
        {
            TokenLimit = 1, TokensPerPeriod = 1, ReplenishmentPeriod = TimeSpan.FromSeconds(1), QueueLimit = 1, TimeProvider = time,
        });
        using var first = await limiter.AcquireAsync(1, Ct);
        var queued = limiter.AcquireAsync(1, Ct).AsTask();
        queued.IsCompleted.Should().BeFalse();
        using var second = await time.AdvanceUntilCompletedAsync(queued, TimeSpan.FromMilliseconds(250));
        second.IsAcquired.Should().BeTrue();
    });

    [Fact]
    public Task TaskGroup_ChildrenWaitingOnAGate_CompleteWithoutBlocking() => RunConstrainedAsync(async () =>
    {
        var contextThread = Environment.CurrentManagedThreadId;
        var gate = NewGate();
        var childThreads = new System.Collections.Concurrent.ConcurrentBag<int>();
        var group = TaskGroup.RunAsync(async g =>
        {
            for (var i = 0; i < 8; i++)
            {
                _ = g.Run(async ct =>
                {
                    childThreads.Add(Environment.CurrentManagedThreadId);
                    await gate.Task.WaitAsync(ct);
                });
            }

            var sum = await g.Run(async ct =>
            {
                await gate.Task.WaitAsync(ct);
                return 42;
            });
            sum.Should().Be(42);
        }, new TaskGroupOptions { MaxConcurrency = 4 }, Ct);
        group.IsCompleted.Should().BeFalse();
        gate.SetResult();
        await group;
        childThreads.Should().HaveCount(8).And.NotContain(contextThread, "children start on the thread pool, never on the caller's context");
    });

    [Fact]
    public Task BackgroundTaskTracker_StartWaitingForRoomAndShutdown_CompleteWithoutBlocking() => RunConstrainedAsync(async () =>
    {
        var gate = NewGate();
        var tracker = new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = 1, MaxQueued = 0 });
        tracker.TryStart(_ => gate.Task, "first").Should().BeTrue();
        var waiting = tracker.StartAsync(ct => Task.Delay(Timeout.InfiniteTimeSpan, ct), "second", Ct).AsTask();
        waiting.IsCompleted.Should().BeFalse("the tracker is full");
        gate.SetResult();
        await waiting;
        var shutdown = tracker.ShutdownAsync(TimeSpan.FromSeconds(10), Ct);
        var report = await shutdown;
        report.Completed.Should().Be(0, "the first task had ended before the shutdown");
        report.Cancelled.Should().Be(1, "the shutdown cancelled the second task");
        report.IsClean.Should().BeTrue();
    });

    [Fact]
    public Task Paginator_PrefetchingPagesBehindAGate_CompletesWithoutBlocking() => RunConstrainedAsync(async () =>
    {
        var gate = NewGate();
        var paginator = Paginator.FromPageNumber<int>(async (page, size, ct) =>
        {
            await gate.Task.WaitAsync(ct);
            return page <= 4 ? [.. Enumerable.Range(((page - 1) * size) + 1, page == 4 ? 1 : size)] : [];
        }, pageSize: 3).WithPrefetch(2);

        await using var enumerator = paginator.GetAsyncEnumerator(Ct);
        var first = enumerator.MoveNextAsync().AsTask();
        first.IsCompleted.Should().BeFalse();
        gate.SetResult();
        var items = new List<int>();
        for (var more = await first; more; more = await enumerator.MoveNextAsync())
        {
            items.Add(enumerator.Current);
        }

        items.Should().Equal(Enumerable.Range(1, 10));
    });

    [Fact]
    public Task AsyncConnectionPool_WaiterServedByAReturnFromTheSameThread_CompletesWithoutBlocking() => RunConstrainedAsync(async () =>
    {
        var gate = NewGate();
        var created = 0;
        var pool = new AsyncConnectionPool<object>(async ct =>
        {
            await gate.Task.WaitAsync(ct);
            Interlocked.Increment(ref created);
            return new object();
        }, maxSize: 1);
        await using (pool.ConfigureAwait(true))
        {
            var creating = pool.AcquireAsync(Ct).AsTask();
            creating.IsCompleted.Should().BeFalse("the create hook waits on the gate");
            gate.SetResult();
            var lease = await creating;
            var connection = lease.Connection;
            var waiter = pool.AcquireAsync(Ct).AsTask();
            waiter.IsCompleted.Should().BeFalse("the only connection is leased");
            await lease.DisposeAsync();
            var second = await waiter;
            try
            {
                second.Connection.Should().BeSameAs(connection, "the returned connection goes straight to the waiter");
            }
            finally
            {
                await second.DisposeAsync();
            }

            created.Should().Be(1);
        }
    });

    [Fact]
    public Task ConcurrentHttpFetcher_RequestsBehindAGate_CompleteWithoutBlocking() => RunConstrainedAsync(async () =>
    {
        var gate = NewGate();
        using var handler = new StubHttpMessageHandler().OnRequest(_ => true, async (request, ct) =>
        {
            await gate.Task.WaitAsync(ct);
            return StubResponse.Json("""{"id":1,"name":"item-1","price":1.25}""").ToResponseMessage(request);
        });
        using var client = new HttpClient(handler);
        var fetcher = new ConcurrentHttpFetcher(client, new FetchOptions { MaxConcurrency = 2 });
        var uris = Enumerable.Range(1, 6).Select(i => new Uri($"http://stub.test/items/{i}")).ToList();
        var fetch = fetcher.FetchAllAsync(uris, HttpTestJson.Default.ServerItem, Ct);
        fetch.IsCompleted.Should().BeFalse();
        gate.SetResult();
        var results = await fetch;
        results.Should().HaveCount(6).And.OnlyContain(r => r.IsSuccess && r.Value!.Id == 1);
        handler.PeakInFlight.Should().BeLessThanOrEqualTo(2);
    });

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static TaskCompletionSource NewGate() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Runs <paramref name="body"/> on a single-threaded context with the thread pool held at its minimum size.</summary>
    private static async Task RunConstrainedAsync(Func<Task> body)
    {
        ThreadPool.GetMinThreads(out var minWorkers, out var minIo);
        ThreadPool.GetMaxThreads(out var maxWorkers, out var maxIo);
        ThreadPool.SetMaxThreads(minWorkers, minIo).Should().BeTrue("the pool can be limited to its minimum ({0} workers)", minWorkers);
        try
        {
            await SingleThreadedContext.RunAsync(body, s_deadlock);
        }
        finally
        {
            ThreadPool.SetMaxThreads(maxWorkers, maxIo).Should().BeTrue();
        }
    }
}
