using System.Collections.Concurrent;
using AsyncPatterns.TaskGroups;
using static AsyncPatterns.Tests.TaskGroups.TaskGroupTestHelpers;

namespace AsyncPatterns.Tests.TaskGroups;

public sealed partial class TaskGroupTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // 1. The body and every child finish before RunAsync completes.
    [Fact]
    public async Task RunAsync_BodyReturnsBeforeChildren_CompletesOnlyAfterEveryChild()
    {
        var gate = NewGate();
        var finished = 0;

        var run = TaskGroup.RunAsync(group =>
        {
            for (var i = 0; i < 3; i++)
            {
                _ = group.Run(async _ =>
                {
                    await gate.Task;
                    Interlocked.Increment(ref finished);
                });
            }

            return Task.CompletedTask;
        }, cancellationToken: Ct);

        await FakeClock.SettleAsync();
        run.IsCompleted.Should().BeFalse();
        gate.SetResult();
        await run.Guard();
        finished.Should().Be(3);
    }

    [Fact]
    public async Task RunAsync_ChildIgnoresCancellation_WaitsForIt()
    {
        var stubbornGate = NewGate();
        var stubbornStarted = NewGate();
        var stubbornFinished = false;

        var run = TaskGroup.RunAsync(group =>
        {
            _ = group.Run(async _ =>
            {
                stubbornStarted.SetResult();
                await stubbornGate.Task; // ignores the token on purpose
                stubbornFinished = true;
            });
            _ = group.Run(async _ =>
            {
                await stubbornStarted.Task;
                throw new ChildFaultException("a");
            });
            return Task.CompletedTask;
        }, cancellationToken: Ct);

        await FakeClock.WaitUntilAsync(() => stubbornStarted.Task.IsCompleted, cancellationToken: Ct);
        await FakeClock.SettleAsync();
        run.IsCompleted.Should().BeFalse();

        stubbornGate.SetResult();
        var act = () => run.Guard();
        await act.Should().ThrowAsync<TaskGroupException>();
        stubbornFinished.Should().BeTrue();
    }

    [Fact]
    public async Task RunAsync_ChildrenWithResults_ReturnsTheirValues()
    {
        var sum = await TaskGroup.RunAsync(async group =>
        {
            var a = group.Run(_ => Task.FromResult(20));
            var b = group.Run(async _ =>
            {
                await Task.Yield();
                return 22;
            });
            return await a + await b;
        }, cancellationToken: Ct).Guard();

        sum.Should().Be(42);
    }

    // 2. FailFast: the first fault cancels Token; siblings see it; Run afterwards does not run the delegate.
    [Fact]
    public async Task Run_ChildFaults_CancelsTokenAndSiblings()
    {
        var siblingSawCancellation = false;
        TaskGroup? captured = null;

        var started = NewGate();
        var act = () => TaskGroup.RunAsync(group =>
        {
            captured = group;
            _ = group.Run(async token =>
            {
                try
                {
                    started.SetResult();
                    await WaitForCancellationAsync(token);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    siblingSawCancellation = true;
                    throw;
                }
            });
            _ = group.Run(async _ =>
            {
                await started.Task;
                throw new ChildFaultException("first");
            });
            return Task.CompletedTask;
        }, cancellationToken: Ct).Guard();

        var thrown = await act.Should().ThrowAsync<TaskGroupException>();
        thrown.Which.InnerExceptions.Should().ContainSingle().Which.Should().BeOfType<ChildFaultException>();
        siblingSawCancellation.Should().BeTrue();
        captured!.Token.IsCancellationRequested.Should().BeTrue();
    }

    [Fact]
    public async Task Run_AfterFault_ReturnsCancelledTaskWithoutRunningTheDelegate()
    {
        var lateRan = false;
        Task? late = null;

        var act = () => TaskGroup.RunAsync(async group =>
        {
            var failing = group.Run(_ => throw new ChildFaultException("x"));
            try
            {
                await failing;
            }
            catch (ChildFaultException)
            {
            }

            late = group.Run(_ =>
            {
                lateRan = true;
                return Task.CompletedTask;
            });
        }, cancellationToken: Ct).Guard();

        await act.Should().ThrowAsync<TaskGroupException>();
        late!.IsCanceled.Should().BeTrue();
        lateRan.Should().BeFalse();
    }

    // 3. Run after completion throws; Run during the final wait is awaited.
    [Fact]
    public async Task Run_AfterGroupCompleted_ThrowsInvalidOperationException()
    {
        TaskGroup? captured = null;
        await TaskGroup.RunAsync(group =>
        {
            captured = group;
            return Task.CompletedTask;
        }, cancellationToken: Ct).Guard();

        var act = () => { _ = captured!.Run(_ => Task.CompletedTask); };
        act.Should().Throw<InvalidOperationException>();
    }

    [Fact]
    public async Task Run_DuringFinalWait_IsAwaitedToo()
    {
        var gate = NewGate();
        var grandchildFinished = false;
        Task? grandchild = null;

        var run = TaskGroup.RunAsync(group =>
        {
            _ = group.Run(async _ =>
            {
                await gate.Task; // the body has returned by now: the group is in its final wait
                grandchild = group.Run(async _ =>
                {
                    await Task.Yield();
                    grandchildFinished = true;
                });
            });
            return Task.CompletedTask;
        }, cancellationToken: Ct);

        await FakeClock.SettleAsync();
        run.IsCompleted.Should().BeFalse();
        gate.SetResult();
        await run.Guard();
        grandchildFinished.Should().BeTrue();
        grandchild!.IsCompletedSuccessfully.Should().BeTrue();
    }

    // 4. Only real faults, in order; OperationCanceledException is cancellation only when the group was cancelled.
    [Fact]
    public async Task RunAsync_SeveralFaults_ThrowsOneTaskGroupExceptionWithOnlyRealFaultsInOrder()
    {
        var started = NewGate();
        var act = () => TaskGroup.RunAsync(group =>
        {
            _ = group.Run(async _ =>
            {
                await started.Task;
                throw new ChildFaultException("first");
            });
            _ = group.Run(async token =>
            {
                try
                {
                    started.SetResult();
                    await WaitForCancellationAsync(token);
                }
                catch (OperationCanceledException)
                {
                    throw new ChildFaultException("second, during teardown");
                }
            });
            for (var i = 0; i < 5; i++)
            {
                _ = group.Run(WaitForCancellationAsync); // cancelled by the first fault: not a fault
            }

            return Task.CompletedTask;
        }, cancellationToken: Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        thrown.InnerExceptions.Select(e => ((ChildFaultException)e).Id).Should().Equal("first", "second, during teardown");
        thrown.InnerException.Should().BeSameAs(thrown.InnerExceptions[0]);
    }

    [Fact]
    public async Task RunAsync_HttpClientStyleTimeoutWithoutGroupCancellation_IsAFaultAndCancelsSiblings()
    {
        var siblingCancelled = false;
        var timeout = new TaskCanceledException(
            "The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing.", new TimeoutException());

        var started = NewGate();
        var act = () => TaskGroup.RunAsync(group =>
        {
            _ = group.Run(async token =>
            {
                try
                {
                    started.SetResult();
                    await WaitForCancellationAsync(token);
                }
                catch (OperationCanceledException)
                {
                    siblingCancelled = true;
                    throw;
                }
            });
            _ = group.Run(async _ =>
            {
                await started.Task;
                throw timeout;
            });
            return Task.CompletedTask;
        }, cancellationToken: Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        thrown.InnerExceptions.Should().ContainSingle().Which.Should().BeSameAs(timeout);
        siblingCancelled.Should().BeTrue();
    }

    [Fact]
    public async Task RunAsync_BodyRethrowsAChildsFault_ReportsItOnce()
    {
        var act = () => TaskGroup.RunAsync(async group =>
        {
            var child = group.Run<int>(async _ =>
            {
                await Task.Yield();
                throw new ChildFaultException("once");
            });
            return await child; // the body fails with the very same exception
        }, cancellationToken: Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        thrown.InnerExceptions.Should().ContainSingle().Which.As<ChildFaultException>().Id.Should().Be("once");
    }

    // 5. Caller's token, Cancel(), Timeout.
    [Fact]
    public async Task RunAsync_CallerTokenCancelledWithoutFaults_ThrowsOperationCanceledWithCallerToken()
    {
        using var cts = new CancellationTokenSource();
        var started = NewGate();

        var run = TaskGroup.RunAsync(group =>
        {
            _ = group.Run(async token =>
            {
                started.SetResult();
                await WaitForCancellationAsync(token);
            });
            return Task.CompletedTask;
        }, cancellationToken: cts.Token);

        await started.Task.Guard();
        run.IsCompleted.Should().BeFalse();
        await cts.CancelAsync();

        var act = () => run.Guard();
        (await act.Should().ThrowAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(cts.Token);
    }

    [Fact]
    public async Task Cancel_WithoutFaults_CompletesNormally()
    {
        var childSawCancellation = false;
        var started = NewGate();

        var result = await TaskGroup.RunAsync(group =>
        {
            _ = group.Run(async token =>
            {
                try
                {
                    started.SetResult();
                    await WaitForCancellationAsync(token);
                }
                catch (OperationCanceledException)
                {
                    childSawCancellation = true;
                    throw;
                }
            });
            _ = group.Run(async _ =>
            {
                await started.Task;
                group.Cancel();
            });
            return Task.FromResult("body result");
        }, cancellationToken: Ct).Guard();

        result.Should().Be("body result");
        childSawCancellation.Should().BeTrue();
    }

    [Fact]
    public async Task RunAsync_TimeoutElapses_ThrowsTimeoutExceptionOnTheFakeClock()
    {
        var clock = FakeClock.Create();
        var options = new TaskGroupOptions { Timeout = TimeSpan.FromSeconds(10), TimeProvider = clock };

        var run = TaskGroup.RunAsync(group =>
        {
            _ = group.Run(WaitForCancellationAsync);
            return Task.CompletedTask;
        }, options, Ct);

        await clock.AdvanceAsync(TimeSpan.FromSeconds(9));
        run.IsCompleted.Should().BeFalse();
        await clock.AdvanceAsync(TimeSpan.FromSeconds(1));

        var act = () => run.Guard();
        await act.Should().ThrowAsync<TimeoutException>();
    }

    [Fact]
    public async Task RunAsync_FinishesBeforeTimeout_CompletesNormally()
    {
        var clock = FakeClock.Create();
        var options = new TaskGroupOptions { Timeout = TimeSpan.FromSeconds(10), TimeProvider = clock };

        var value = await TaskGroup.RunAsync(group => group.Run(_ => Task.FromResult(7)), options, Ct).Guard();

        value.Should().Be(7);
        clock.Advance(TimeSpan.FromMinutes(1)); // the timer is disposed: nothing happens
    }

    // 6. A body exception behaves exactly like a child fault.
    [Fact]
    public async Task RunAsync_BodyThrows_CancelsChildrenAndThrowsTaskGroupException()
    {
        var childCancelled = false;

        var started = NewGate();
        var act = () => TaskGroup.RunAsync(async group =>
        {
            _ = group.Run(async token =>
            {
                try
                {
                    started.SetResult();
                    await WaitForCancellationAsync(token);
                }
                catch (OperationCanceledException)
                {
                    childCancelled = true;
                    throw;
                }
            });
            await started.Task;
            throw new ChildFaultException("body");
        }, cancellationToken: Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        thrown.InnerExceptions.Should().ContainSingle().Which.Should().BeOfType<ChildFaultException>().Which.Id.Should().Be("body");
        childCancelled.Should().BeTrue();
    }

    [Fact]
    public async Task RunAsync_BodyThrowsSynchronously_IsReportedAsFaultNotThrownInline()
    {
        // A synchronous throw here would fail the test before the assertion.
        var run = TaskGroup.RunAsync(_ => throw new ChildFaultException("sync"), cancellationToken: Ct);

        var awaiting = () => run.Guard();
        (await awaiting.Should().ThrowAsync<TaskGroupException>()).Which.InnerException.Should().BeOfType<ChildFaultException>();
    }

    // 7. Supervisor.
    [Fact]
    public async Task RunAsync_Supervisor_CancelsNothingAndCallsOnChildFaultedOncePerFault()
    {
        var seen = new ConcurrentQueue<TaskGroupFault>();
        var options = new TaskGroupOptions
        {
            Mode = TaskGroupMode.Supervisor,
            Name = "workers",
            OnChildFaulted = fault =>
            {
                seen.Enqueue(fault);
                return ((ChildFaultException)fault.Exception).Id.StartsWith("handled", StringComparison.Ordinal);
            },
        };
        var faultsDone = new CountdownEvent(3);
        var survivorGate = NewGate();
        var survivorFinished = false;
        CancellationToken groupToken = default;

        var run = TaskGroup.RunAsync(group =>
        {
            groupToken = group.Token;
            _ = group.Run(_ => { faultsDone.Signal(); throw new ChildFaultException("handled-1"); }, "h1");
            _ = group.Run(_ => { faultsDone.Signal(); throw new ChildFaultException("handled-2"); }, "h2");
            _ = group.Run(_ => { faultsDone.Signal(); throw new ChildFaultException("unhandled"); }, "u");
            _ = group.Run(async token =>
            {
                await survivorGate.Task;
                token.IsCancellationRequested.Should().BeFalse();
                survivorFinished = true;
            });
            return Task.CompletedTask;
        }, options, Ct);

        await FakeClock.WaitUntilAsync(() => seen.Count == 3, cancellationToken: Ct);
        groupToken.IsCancellationRequested.Should().BeFalse();
        run.IsCompleted.Should().BeFalse();
        survivorGate.SetResult();

        var act = () => run.Guard();
        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        thrown.InnerExceptions.Should().ContainSingle().Which.As<ChildFaultException>().Id.Should().Be("unhandled");
        seen.Select(f => f.ChildName).Should().BeEquivalentTo(["h1", "h2", "u"]);
        seen.Should().OnlyContain(f => f.GroupName == "workers");
        survivorFinished.Should().BeTrue();
    }

    [Fact]
    public async Task RunAsync_SupervisorHandlesEveryFault_CompletesNormally()
    {
        var calls = 0;
        var options = new TaskGroupOptions { Mode = TaskGroupMode.Supervisor, OnChildFaulted = _ => Interlocked.Increment(ref calls) > 0 };

        await TaskGroup.RunAsync(group =>
        {
            for (var i = 0; i < 10; i++)
            {
                var id = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                _ = group.Run(_ => throw new ChildFaultException(id));
            }

            return Task.CompletedTask;
        }, options, Ct).Guard();

        calls.Should().Be(10);
    }

    [Fact]
    public void Constructor_OnChildFaultedWithFailFast_ThrowsArgumentException()
    {
        var act = () => new TaskGroup(new TaskGroupOptions { OnChildFaulted = _ => true });
        act.Should().Throw<ArgumentException>().WithParameterName("options");
    }

    // 8. MaxConcurrency.
    [Fact]
    public async Task Run_MaxConcurrency_NeverExceedsTheLimit()
    {
        const int limit = 3;
        var running = 0;
        var peak = 0;

        await TaskGroup.RunAsync(group =>
        {
            for (var i = 0; i < 200; i++)
            {
                _ = group.Run(async _ =>
                {
                    var now = Interlocked.Increment(ref running);
                    InterlockedMax(ref peak, now);
                    await Task.Yield();
                    await Task.Yield();
                    Interlocked.Decrement(ref running);
                });
            }

            return Task.CompletedTask;
        }, new TaskGroupOptions { MaxConcurrency = limit }, Ct).Guard();

        peak.Should().BeGreaterThan(0).And.BeLessThanOrEqualTo(limit);
    }

    [Fact]
    public async Task Run_MaxConcurrencyReached_QueuedChildrenStartInOrder()
    {
        var gates = Enumerable.Range(0, 8).Select(_ => NewGate()).ToArray();
        var started = new ConcurrentQueue<int>();

        var run = TaskGroup.RunAsync(group =>
        {
            for (var i = 0; i < gates.Length; i++)
            {
                var index = i;
                _ = group.Run(async _ =>
                {
                    started.Enqueue(index);
                    await gates[index].Task;
                });
            }

            return Task.CompletedTask;
        }, new TaskGroupOptions { MaxConcurrency = 2 }, Ct);

        await FakeClock.WaitUntilAsync(() => started.Count == 2, cancellationToken: Ct);
        for (var i = 0; i < gates.Length; i++)
        {
            gates[i].SetResult();
            var expected = Math.Min(i + 3, gates.Length);
            await FakeClock.WaitUntilAsync(() => started.Count == expected, cancellationToken: Ct);
        }

        await run.Guard();
        started.Take(2).Should().BeEquivalentTo([0, 1]);
        started.Skip(2).Should().Equal(2, 3, 4, 5, 6, 7);
    }

    [Fact]
    public async Task TryRun_AtTheLimit_ReturnsFalseAndDoesNotRun()
    {
        var gate = NewGate();
        var rejectedRan = false;
        bool first = false, second = true;

        await TaskGroup.RunAsync(group =>
        {
            first = group.TryRun(_ => gate.Task);
            second = group.TryRun(_ =>
            {
                rejectedRan = true;
                return Task.CompletedTask;
            });
            gate.SetResult();
            return Task.CompletedTask;
        }, new TaskGroupOptions { MaxConcurrency = 1 }, Ct).Guard();

        first.Should().BeTrue();
        second.Should().BeFalse();
        rejectedRan.Should().BeFalse();
    }

    [Fact]
    public async Task TryRun_WithoutLimit_AlwaysAccepts()
    {
        var ran = 0;
        await TaskGroup.RunAsync(group =>
        {
            for (var i = 0; i < 10; i++)
            {
                group.TryRun(_ =>
                {
                    Interlocked.Increment(ref ran);
                    return Task.CompletedTask;
                }).Should().BeTrue();
            }

            return Task.CompletedTask;
        }, cancellationToken: Ct).Guard();

        ran.Should().Be(10);
    }

    // 9. StartAsync.
    [Fact]
    public async Task StartAsync_ChildSignals_ReturnsTheValueAndKeepsTheChildRunning()
    {
        var stopped = false;

        await TaskGroup.RunAsync(async group =>
        {
            var port = await group.StartAsync<int>(async (ready, token) =>
            {
                await Task.Yield();
                ready(8080);
                try
                {
                    await WaitForCancellationAsync(token);
                }
                finally
                {
                    stopped = true;
                }
            }, "server", Ct);

            port.Should().Be(8080);
            stopped.Should().BeFalse();
            group.Cancel();
        }, cancellationToken: Ct).Guard();

        stopped.Should().BeTrue();
    }

    [Fact]
    public async Task StartAsync_FaultBeforeSignal_SurfacesFromStartAsyncNotFromTheGroup()
    {
        Exception? caught = null;

        await TaskGroup.RunAsync(async group =>
        {
            try
            {
                await group.StartAsync<int>(async (_, _) =>
                {
                    await Task.Yield();
                    throw new ChildFaultException("bind failed");
                }, cancellationToken: Ct);
            }
            catch (ChildFaultException ex)
            {
                caught = ex;
            }
        }, cancellationToken: Ct).Guard();

        caught.Should().BeOfType<ChildFaultException>().Which.Id.Should().Be("bind failed");
    }

    [Fact]
    public async Task StartAsync_FaultAfterSignal_IsAFaultOfTheGroup()
    {
        var act = () => TaskGroup.RunAsync(async group =>
        {
            var value = await group.StartAsync<string>(async (ready, _) =>
            {
                ready("up");
                await Task.Yield();
                throw new ChildFaultException("crashed later");
            }, cancellationToken: Ct);
            value.Should().Be("up");
        }, cancellationToken: Ct).Guard();

        (await act.Should().ThrowAsync<TaskGroupException>()).Which.InnerException.Should().BeOfType<ChildFaultException>();
    }

    [Fact]
    public async Task StartAsync_ChildEndsWithoutSignalling_ThrowsInvalidOperationException()
    {
        Exception? caught = null;

        await TaskGroup.RunAsync(async group =>
        {
            try
            {
                await group.StartAsync<int>((_, _) => Task.CompletedTask, cancellationToken: Ct);
            }
            catch (InvalidOperationException ex)
            {
                caught = ex;
            }
        }, cancellationToken: Ct).Guard();

        caught.Should().BeOfType<InvalidOperationException>();
    }

    [Fact]
    public async Task StartAsync_CallerCancelsBeforeSignal_CancelsTheChild()
    {
        using var startCts = new CancellationTokenSource();
        var childStarted = NewGate();
        var childCancelled = false;
        OperationCanceledException? caught = null;

        await TaskGroup.RunAsync(async group =>
        {
            var start = group.StartAsync<int>(async (_, token) =>
            {
                childStarted.SetResult();
                try
                {
                    await WaitForCancellationAsync(token);
                }
                catch (OperationCanceledException)
                {
                    childCancelled = true;
                    throw;
                }
            }, cancellationToken: startCts.Token);

            await childStarted.Task;
            await startCts.CancelAsync();
            try
            {
                await start;
            }
            catch (OperationCanceledException ex)
            {
                caught = ex;
            }

            group.Token.IsCancellationRequested.Should().BeFalse();
        }, cancellationToken: Ct).Guard();

        childCancelled.Should().BeTrue();
        caught!.CancellationToken.Should().Be(startCts.Token);
    }

    // 10. Nested groups.
    [Fact]
    public async Task RunAsync_ParentCancelled_CancelsNestedGroup()
    {
        var innerStarted = NewGate();
        var innerCancelled = false;

        await TaskGroup.RunAsync(async outer =>
        {
            _ = outer.Run(token => TaskGroup.RunAsync(inner =>
            {
                _ = inner.Run(async innerToken =>
                {
                    innerStarted.SetResult();
                    try
                    {
                        await WaitForCancellationAsync(innerToken);
                    }
                    catch (OperationCanceledException)
                    {
                        innerCancelled = true;
                        throw;
                    }
                });
                return Task.CompletedTask;
            }, cancellationToken: token));

            await innerStarted.Task;
            outer.Cancel();
        }, cancellationToken: Ct).Guard();

        innerCancelled.Should().BeTrue();
    }

    [Fact]
    public async Task RunAsync_NestedGroupFails_IsOneFaultInTheParent()
    {
        var act = () => TaskGroup.RunAsync(outer =>
        {
            var started = NewGate();
            _ = outer.Run(token => TaskGroup.RunAsync(inner =>
            {
                _ = inner.Run(async _ =>
                {
                    await started.Task;
                    throw new ChildFaultException("inner-1");
                });
                _ = inner.Run(async innerToken =>
                {
                    try
                    {
                        started.SetResult();
                        await WaitForCancellationAsync(innerToken);
                    }
                    catch (OperationCanceledException)
                    {
                        throw new ChildFaultException("inner-2");
                    }
                });
                return Task.CompletedTask;
            }, cancellationToken: token), "nested");
            return Task.CompletedTask;
        }, cancellationToken: Ct).Guard();

        var thrown = (await act.Should().ThrowAsync<TaskGroupException>()).Which;
        var nested = thrown.InnerExceptions.Should().ContainSingle().Which.Should().BeOfType<TaskGroupException>().Which;
        nested.InnerExceptions.Select(e => ((ChildFaultException)e).Id).Should().Equal("inner-1", "inner-2");
    }

    // 11. Never an UnobservedTaskException.
    [Fact]
    public async Task RunAsync_FaultedChildrenNeverAwaited_RaiseNoUnobservedTaskException()
    {
        var marker = Guid.NewGuid().ToString();
        var unobserved = new ConcurrentQueue<Exception>();
        void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            foreach (var ex in e.Exception.Flatten().InnerExceptions)
            {
                if (ex is ChildFaultException fault && fault.Id.StartsWith(marker, StringComparison.Ordinal))
                {
                    unobserved.Enqueue(ex);
                }
            }
        }

        TaskScheduler.UnobservedTaskException += OnUnobserved;
        try
        {
            await RunFaultingGroupsAsync(marker);
            for (var i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }

            GC.Collect();
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
        }

        unobserved.Should().BeEmpty();

        static async Task RunFaultingGroupsAsync(string marker)
        {
            for (var round = 0; round < 5; round++)
            {
                try
                {
                    await TaskGroup.RunAsync(group =>
                    {
                        _ = group.Run(_ => throw new ChildFaultException(marker + "-sync"));
                        _ = group.Run(async _ =>
                        {
                            await Task.Yield();
                            throw new ChildFaultException(marker + "-async");
                        });
                        _ = group.Run<int>(async _ =>
                        {
                            await Task.Yield();
                            throw new ChildFaultException(marker + "-typed");
                        });
                        _ = group.StartAsync<int>(async (ready, _) =>
                        {
                            ready(1);
                            await Task.Yield();
                            throw new ChildFaultException(marker + "-started");
                        });
                        return Task.CompletedTask;
                    }, new TaskGroupOptions { Mode = TaskGroupMode.Supervisor }, TestContext.Current.CancellationToken).Guard();
                }
                catch (TaskGroupException)
                {
                }

                var group2 = new TaskGroup();
                _ = group2.Run(_ => throw new ChildFaultException(marker + "-disposed"));
                await group2.DisposeAsync();
            }
        }
    }

    // 12. Single-threaded SynchronizationContext: no deadlock; children never start inline.
    [Fact]
    public async Task RunAsync_UnderSingleThreadedContext_DoesNotDeadlockAndStartsChildrenOffTheCallersThread()
    {
        var childThreads = new ConcurrentBag<int>();
        var contextThread = 0;

        var total = await SingleThreadedContext.RunAsync(async () =>
        {
            contextThread = Environment.CurrentManagedThreadId;
            return await TaskGroup.RunAsync(async group =>
            {
                var tasks = new List<Task<int>>();
                for (var i = 0; i < 20; i++)
                {
                    var value = i;
                    tasks.Add(group.Run(async _ =>
                    {
                        childThreads.Add(Environment.CurrentManagedThreadId);
                        await Task.Yield();
                        return value;
                    }));
                }

                // No ConfigureAwait: the body's continuations come back to the single thread.
                var results = await Task.WhenAll(tasks);
                Environment.CurrentManagedThreadId.Should().Be(contextThread);
                return results.Sum();
            }, cancellationToken: TestContext.Current.CancellationToken);
        }, FakeClock.HangTimeout);

        total.Should().Be(Enumerable.Range(0, 20).Sum());
        childThreads.Should().HaveCount(20).And.NotContain(contextThread);
    }

    [Fact]
    public async Task Run_ChildDelegate_NeverRunsInlineOnTheCallersStack()
    {
        var inlineRuns = 0;

        await TaskGroup.RunAsync(group =>
        {
            var callerThread = Environment.CurrentManagedThreadId;
            var inRun = new ThreadLocal<bool>();
            for (var i = 0; i < 50; i++)
            {
                inRun.Value = true;
                _ = group.Run(_ =>
                {
                    if (inRun.Value)
                    {
                        Interlocked.Increment(ref inlineRuns);
                    }

                    return Task.CompletedTask;
                });
                inRun.Value = false;
            }

            return Task.CompletedTask;
        }, cancellationToken: Ct).Guard();

        inlineRuns.Should().Be(0);
    }

    // The await-using form.
    [Fact]
    public async Task WhenAllAsync_AwaitUsingForm_WaitsForChildrenAndThrowsFaults()
    {
        await using var group = new TaskGroup(cancellationToken: Ct);
        var a = group.Run(_ => Task.FromResult(1));
        _ = group.Run(async _ =>
        {
            await Task.Yield();
            throw new ChildFaultException("x");
        });

        var act = () => group.WhenAllAsync().Guard();
        (await act.Should().ThrowAsync<TaskGroupException>()).Which.InnerException.Should().BeOfType<ChildFaultException>();
        (await a).Should().Be(1);
    }

    [Fact]
    public async Task DisposeAsync_WithoutWhenAll_CancelsAndWaitsForChildren()
    {
        var childCancelled = false;
        var started = NewGate();
        var group = new TaskGroup(cancellationToken: Ct);
        var child = group.Run(async token =>
        {
            started.SetResult();
            try
            {
                await WaitForCancellationAsync(token);
            }
            catch (OperationCanceledException)
            {
                childCancelled = true;
                throw;
            }
        });

        await started.Task.Guard();
        await group.DisposeAsync().AsTask().Guard();

        childCancelled.Should().BeTrue();
        child.IsCanceled.Should().BeTrue();
        await group.DisposeAsync(); // idempotent
    }

    [Fact]
    public async Task WhenAllAsync_OnAGroupOwnedByRunAsync_ThrowsInvalidOperationException()
    {
        var childFinished = false;
        Exception? caught = null;

        await TaskGroup.RunAsync(async group =>
        {
            _ = group.Run(async _ =>
            {
                await Task.Yield();
                childFinished = true;
            });
            try
            {
                await group.WhenAllAsync();
            }
            catch (InvalidOperationException ex)
            {
                caught = ex;
            }

            await group.DisposeAsync(); // RunAsync owns the lifetime: nothing to do, and no hang
        }, cancellationToken: Ct).Guard();

        caught.Should().BeOfType<InvalidOperationException>();
        childFinished.Should().BeTrue();
    }

    [Fact]
    public async Task StartAsync_GroupCancelledBeforeSignal_ThrowsOperationCanceledWithTheGroupToken()
    {
        OperationCanceledException? caught = null;
        var childStarted = NewGate();
        CancellationToken groupToken = default;

        await TaskGroup.RunAsync(async group =>
        {
            groupToken = group.Token;
            var start = group.StartAsync<int>(async (_, token) =>
            {
                childStarted.SetResult();
                await WaitForCancellationAsync(token);
            }, cancellationToken: Ct);

            await childStarted.Task;
            group.Cancel();
            try
            {
                await start;
            }
            catch (OperationCanceledException ex)
            {
                caught = ex;
            }
        }, cancellationToken: Ct).Guard();

        caught!.CancellationToken.Should().Be(groupToken);
    }

    [Fact]
    public void RunAsync_NullBody_ThrowsSynchronously()
    {
        var act = () => { _ = TaskGroup.RunAsync(null!); };
        act.Should().Throw<ArgumentNullException>().WithParameterName("body");
    }

    // 13. Stress: many children with random faults and cancellations; every run terminates, every fault is reported once.
    [Fact]
    public async Task RunAsync_StressWithRandomFaultsAndCancellations_ReportsEveryFaultExactlyOnce()
    {
        const int iterations = 12;
        const int children = 10_000;
        var baseSeed = Reliability.StressHarness.ReplaySeed ?? Reliability.StressHarness.CiSeed;

        for (var iteration = 0; iteration < iterations; iteration++)
        {
            var seed = baseSeed + iteration;
            try
            {
                await RunOneAsync(seed);
            }
            catch (Exception ex)
            {
                throw new InvalidOperationException($"Stress iteration failed with seed {seed}: {ex.Message}", ex);
            }
        }

        static async Task RunOneAsync(int seed)
        {
            var random = new Random(seed);
            var mode = random.Next(2) == 0 ? TaskGroupMode.FailFast : TaskGroupMode.Supervisor;
            var limit = random.Next(3) == 0 ? random.Next(1, 64) : (int?)null;
            var thrown = new ConcurrentDictionary<int, bool>();
            var plans = Enumerable.Range(0, children).Select(_ => random.Next(100)).ToArray();

            var outcome = TaskGroup.RunAsync(group =>
            {
                for (var i = 0; i < children; i++)
                {
                    var id = i;
                    var plan = plans[i];
                    _ = group.Run(async token =>
                    {
                        switch (plan)
                        {
                            case < 40:
                                return;
                            case < 80:
                                await Task.Yield();
                                token.ThrowIfCancellationRequested();
                                return;
                            case < 82:
                                thrown[id] = true;
                                throw new ChildFaultException(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                            case < 84:
                                await Task.Yield();
                                thrown[id] = true;
                                throw new ChildFaultException(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                            case < 85:
                                group.Cancel();
                                return;
                            default:
                                await Task.Yield();
                                token.ThrowIfCancellationRequested();
                                return;
                        }
                    });
                }

                return Task.CompletedTask;
            }, new TaskGroupOptions { Mode = mode, MaxConcurrency = limit }, TestContext.Current.CancellationToken);

            List<int> reported = [];
            try
            {
                await outcome.Guard();
            }
            catch (TaskGroupException ex)
            {
                reported = ex.InnerExceptions.Select(e => int.Parse(((ChildFaultException)e).Id, System.Globalization.CultureInfo.InvariantCulture)).ToList();
            }

            reported.Should().OnlyHaveUniqueItems($"seed {seed}");
            reported.Should().BeEquivalentTo(thrown.Keys, $"seed {seed}: every fault is reported exactly once");
        }
    }

    internal static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
