using AsyncPatterns.Retries;
using Polly;

namespace AsyncPatterns.Tests.Retries;

public sealed partial class RetryTests
{
    private static RetryOptions NoJitter(Microsoft.Extensions.Time.Testing.FakeTimeProvider clock, int maxRetries = 3) => new()
    {
        MaxRetries = maxRetries,
        BaseDelay = TimeSpan.FromSeconds(1),
        BackoffType = DelayBackoffType.Exponential,
        UseJitter = false,
        TimeProvider = clock,
    };

    [Fact]
    public async Task ExecuteAsync_ExponentialWithoutJitter_RetriesExactlyAfter1s2s4s()
    {
        var clock = FakeClock.Create();
        var attempts = 0;
        var task = Retry.ExecuteAsync(
            _ =>
            {
                var n = Interlocked.Increment(ref attempts);
                return n <= 3 ? Task.FromException<int>(new IOException($"attempt {n}")) : Task.FromResult(n);
            },
            NoJitter(clock),
            TestContext.Current.CancellationToken);

        await FakeClock.SettleAsync();
        Volatile.Read(ref attempts).Should().Be(1);
        foreach (var (delay, expectedAfter) in new[] { (1, 2), (2, 3), (4, 4) })
        {
            await clock.AdvanceAsync(TimeSpan.FromSeconds(delay) - TimeSpan.FromMilliseconds(1));
            Volatile.Read(ref attempts).Should().Be(expectedAfter - 1, "the retry must not happen before {0} s have passed", delay);
            await clock.AdvanceAsync(TimeSpan.FromMilliseconds(1));
            await FakeClock.WaitUntilAsync(() => Volatile.Read(ref attempts) == expectedAfter, cancellationToken: TestContext.Current.CancellationToken);
        }

        (await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)).Should().Be(4);
    }

    [Fact]
    public async Task ExecuteAsync_ExponentialWithoutJitter_IsExactlyBaseTimesTwoToTheAttempt()
    {
        var clock = FakeClock.Create();
        var delays = new List<TimeSpan>();
        var options = NoJitter(clock, maxRetries: 5);
        options.BaseDelay = TimeSpan.FromMilliseconds(250);
        options.OnRetry = a => delays.Add(a.Delay);

        var task = Retry.ExecuteAsync(_ => Task.FromException<int>(new IOException()), options, TestContext.Current.CancellationToken);
        await clock.AdvanceUntilAsync(() => task.IsCompleted, TimeSpan.FromMilliseconds(250));
        await task.Awaiting(t => t).Should().ThrowAsync<IOException>();

        delays.Should().Equal(Enumerable.Range(0, 5).Select(n => TimeSpan.FromMilliseconds(250 * Math.Pow(2, n))));
    }

    [Theory]
    [InlineData(DelayBackoffType.Constant, new[] { 1, 1, 1 })]
    [InlineData(DelayBackoffType.Linear, new[] { 1, 2, 3 })]
    [InlineData(DelayBackoffType.Exponential, new[] { 1, 2, 4 })]
    public async Task ExecuteAsync_BackoffTypes_ProduceTheDocumentedDelays(DelayBackoffType type, int[] seconds)
    {
        var clock = FakeClock.Create();
        var delays = new List<TimeSpan>();
        var options = NoJitter(clock);
        options.BackoffType = type;
        options.OnRetry = a => delays.Add(a.Delay);

        var task = Retry.ExecuteAsync(_ => Task.FromException(new IOException()), options, TestContext.Current.CancellationToken);
        await clock.AdvanceUntilAsync(() => task.IsCompleted, TimeSpan.FromMilliseconds(500));
        await task.Awaiting(t => t).Should().ThrowAsync<IOException>();

        delays.Should().Equal(seconds.Select(s => TimeSpan.FromSeconds(s)));
    }

    [Fact]
    public async Task ExecuteAsync_MaxDelay_CapsComputedDelays()
    {
        var clock = FakeClock.Create();
        var delays = new List<TimeSpan>();
        var options = NoJitter(clock, maxRetries: 5);
        options.MaxDelay = TimeSpan.FromSeconds(3);
        options.OnRetry = a => delays.Add(a.Delay);

        var task = Retry.ExecuteAsync(_ => Task.FromException(new IOException()), options, TestContext.Current.CancellationToken);
        await clock.AdvanceUntilAsync(() => task.IsCompleted, TimeSpan.FromMilliseconds(500));
        await task.Awaiting(t => t).Should().ThrowAsync<IOException>();

        delays.Should().Equal(new[] { 1, 2, 3, 3, 3 }.Select(s => TimeSpan.FromSeconds(s)));
    }

    [Fact]
    public async Task ExecuteAsync_ConstantWithJitter_StaysWithinPlus25PercentOfTheDelay()
    {
        var seed = Reliability.StressHarness.ReplaySeed ?? Reliability.StressHarness.CiSeed;
        var random = new Random(seed);
        var clock = FakeClock.Create();
        var delays = new List<TimeSpan>();
        var options = new RetryOptions
        {
            MaxRetries = 50,
            BaseDelay = TimeSpan.FromSeconds(1),
            BackoffType = DelayBackoffType.Constant,
            UseJitter = true,
            TimeProvider = clock,
            Randomizer = random.NextDouble,
            OnRetry = a => delays.Add(a.Delay),
        };

        var task = Retry.ExecuteAsync(_ => Task.FromException(new IOException()), options, TestContext.Current.CancellationToken);
        await clock.AdvanceUntilAsync(() => task.IsCompleted, TimeSpan.FromMilliseconds(250));
        await task.Awaiting(t => t).Should().ThrowAsync<IOException>();

        delays.Should().HaveCount(50);
        delays.Should().OnlyContain(d => d >= TimeSpan.FromMilliseconds(750) && d <= TimeSpan.FromMilliseconds(1250), "seed {0}", seed);
        delays.Distinct().Should().HaveCountGreaterThan(1, "jitter randomizes (seed {0})", seed);
    }

    [Fact]
    public async Task ExecuteAsync_ExponentialWithJitter_StaysPositiveAndUnderMaxDelay()
    {
        var seed = Reliability.StressHarness.ReplaySeed ?? Reliability.StressHarness.CiSeed;
        var clock = FakeClock.Create();
        var delays = new List<TimeSpan>();
        var options = new RetryOptions
        {
            MaxRetries = 20,
            BaseDelay = TimeSpan.FromSeconds(1),
            MaxDelay = TimeSpan.FromSeconds(10),
            TimeProvider = clock,
            Randomizer = new Random(seed).NextDouble,
            OnRetry = a => delays.Add(a.Delay),
        };

        var task = Retry.ExecuteAsync(_ => Task.FromException(new IOException()), options, TestContext.Current.CancellationToken);
        await clock.AdvanceUntilAsync(() => task.IsCompleted, TimeSpan.FromMilliseconds(250));
        await task.Awaiting(t => t).Should().ThrowAsync<IOException>();

        delays.Should().HaveCount(20);
        delays.Should().OnlyContain(d => d > TimeSpan.Zero && d <= TimeSpan.FromSeconds(10), "seed {0}", seed);
    }

    [Fact]
    public async Task ExecuteAsync_InjectedRandomizer_MakesTheJitteredSequenceReproducible()
    {
        async Task<List<TimeSpan>> RunAsync(int seed)
        {
            var clock = FakeClock.Create();
            var delays = new List<TimeSpan>();
            var options = new RetryOptions
            {
                MaxRetries = 6,
                BaseDelay = TimeSpan.FromMilliseconds(100),
                TimeProvider = clock,
                Randomizer = new Random(seed).NextDouble,
                OnRetry = a => delays.Add(a.Delay),
            };
            var task = Retry.ExecuteAsync(_ => Task.FromException(new IOException()), options, TestContext.Current.CancellationToken);
            await clock.AdvanceUntilAsync(() => task.IsCompleted, TimeSpan.FromMilliseconds(100));
            await task.Awaiting(t => t).Should().ThrowAsync<IOException>();
            return delays;
        }

        var first = await RunAsync(1234);
        var second = await RunAsync(1234);
        var other = await RunAsync(4321);

        first.Should().HaveCount(6).And.Equal(second);
        other.Should().NotEqual(first);
    }

    [Fact]
    public async Task ExecuteAsync_CallerCancelsDuringBackoff_EndsAtOnceWithoutAnotherAttempt()
    {
        var clock = FakeClock.Create();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var attempts = 0;
        var task = Retry.ExecuteAsync(
            _ =>
            {
                Interlocked.Increment(ref attempts);
                return Task.FromException<int>(new IOException());
            },
            NoJitter(clock),
            cts.Token);

        await clock.AdvanceAsync(TimeSpan.FromMilliseconds(500));
        task.IsCompleted.Should().BeFalse("the first backoff delay is running");

        await cts.CancelAsync();
        var ex = await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken)
            .Awaiting(t => t).Should().ThrowAsync<OperationCanceledException>();
        ex.Which.CancellationToken.Should().Be(cts.Token);

        await clock.AdvanceAsync(TimeSpan.FromSeconds(30));
        Volatile.Read(ref attempts).Should().Be(1);
    }

    [Fact]
    public async Task ExecuteAsync_AllAttemptsFail_LastExceptionPropagatesUnchangedWithAttemptCount()
    {
        var clock = FakeClock.Create();
        var thrown = new List<Exception>();
        var task = Retry.ExecuteAsync(
            async _ =>
            {
                await Task.Yield();
                var ex = new InvalidOperationException($"failure {thrown.Count + 1}");
                lock (thrown)
                {
                    thrown.Add(ex);
                }

                ThrowFromHelper(ex);
                return 0;
            },
            NoJitter(clock),
            TestContext.Current.CancellationToken);

        await clock.AdvanceUntilAsync(() => task.IsCompleted, TimeSpan.FromMilliseconds(500));
        var caught = (await task.Awaiting(t => t).Should().ThrowAsync<InvalidOperationException>()).Which;

        thrown.Should().HaveCount(4);
        caught.Should().BeSameAs(thrown[^1]);
        caught.StackTrace.Should().Contain(nameof(ThrowFromHelper));
        caught.Data[Retry.AttemptCountDataKey].Should().Be(4);
    }

    private static void ThrowFromHelper(Exception ex) => throw ex;

    [Fact]
    public async Task ExecuteAsync_OnRetry_ReportsOneBasedAttemptDelayAndCause()
    {
        var clock = FakeClock.Create();
        var seen = new List<RetryAttempt>();
        var options = NoJitter(clock, maxRetries: 2);
        options.OnRetry = seen.Add;
        var failures = new Queue<Exception>([new IOException("a"), new IOException("b")]);

        var task = Retry.ExecuteAsync(_ => failures.TryDequeue(out var e) ? Task.FromException<string>(e) : Task.FromResult("done"), options, TestContext.Current.CancellationToken);
        (await clock.AdvanceUntilCompletedAsync(task, TimeSpan.FromMilliseconds(500))).Should().Be("done");

        seen.Select(a => a.AttemptNumber).Should().Equal(1, 2);
        seen.Select(a => a.Delay).Should().Equal(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2));
        seen.Select(a => a.Exception!.Message).Should().Equal("a", "b");
        seen.Should().OnlyContain(a => a.Result == null);
    }

    [Fact]
    public async Task ExecuteAsync_DefaultPredicate_RetriesAnInnerTimeoutsCancellationButNotTheCallers()
    {
        var clock = FakeClock.Create();
        var attempts = 0;
        var task = Retry.ExecuteAsync(
            _ => Interlocked.Increment(ref attempts) == 1
                ? Task.FromException<int>(new OperationCanceledException("inner timeout", new CancellationToken(true)))
                : Task.FromResult(5),
            NoJitter(clock),
            TestContext.Current.CancellationToken);

        (await clock.AdvanceUntilCompletedAsync(task, TimeSpan.FromMilliseconds(500))).Should().Be(5);
        attempts.Should().Be(2);
    }

    [Fact]
    public async Task ExecuteAsync_ShouldRetryRejects_DoesNotRetry()
    {
        var clock = FakeClock.Create();
        var attempts = 0;
        var options = NoJitter(clock);
        options.ShouldRetry = o => o.Exception is IOException;

        var act = () => Retry.ExecuteAsync(
            _ =>
            {
                Interlocked.Increment(ref attempts);
                return Task.FromException(new ArgumentException("bad"));
            },
            options,
            TestContext.Current.CancellationToken);

        await act.Should().ThrowAsync<ArgumentException>();
        attempts.Should().Be(1);
    }

    [Fact]
    public async Task ExecuteAsync_ShouldRetryOnResults_RetriesUntilTheResultIsAccepted()
    {
        var clock = FakeClock.Create();
        var attempts = 0;
        var options = NoJitter(clock);
        options.ShouldRetry = o => o.Result is int n && n < 3;

        var task = Retry.ExecuteAsync(_ => Task.FromResult(Interlocked.Increment(ref attempts)), options, TestContext.Current.CancellationToken);
        (await clock.AdvanceUntilCompletedAsync(task, TimeSpan.FromMilliseconds(500))).Should().Be(3);
    }

    [Fact]
    public async Task ExecuteAsync_ZeroRetries_MakesOneAttempt()
    {
        var attempts = 0;
        var options = new RetryOptions { MaxRetries = 0, TimeProvider = FakeClock.Create() };
        var act = () => Retry.ExecuteAsync(
            _ =>
            {
                attempts++;
                return Task.FromException(new IOException());
            },
            options,
            TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<IOException>()).Which.Data[Retry.AttemptCountDataKey].Should().Be(1);
        attempts.Should().Be(1);
    }

    [Fact]
    public async Task ExecuteAsync_OptionsChangedAfterUse_NextExecutionUsesTheNewValues()
    {
        var clock = FakeClock.Create();
        var options = NoJitter(clock, maxRetries: 1);
        var attempts = 0;
        Task Failing(CancellationToken _)
        {
            attempts++;
            return Task.FromException(new IOException());
        }

        await clock.AdvanceUntilCompletedAsync(Retry.ExecuteAsync(Failing, options, TestContext.Current.CancellationToken).ContinueWith(_ => { }, TaskScheduler.Default), TimeSpan.FromMilliseconds(500));
        attempts.Should().Be(2);

        options.MaxRetries = 2;
        attempts = 0;
        await clock.AdvanceUntilCompletedAsync(Retry.ExecuteAsync(Failing, options, TestContext.Current.CancellationToken).ContinueWith(_ => { }, TaskScheduler.Default), TimeSpan.FromMilliseconds(500));
        attempts.Should().Be(3);
    }

    [Fact]
    public void ExecuteAsync_NullOperation_ThrowsArgumentNullException()
    {
        Action generic = () => _ = Retry.ExecuteAsync((Func<CancellationToken, Task<int>>)null!);
        generic.Should().Throw<ArgumentNullException>().WithParameterName("operation");
        Action plain = () => _ = Retry.ExecuteAsync((Func<CancellationToken, Task>)null!);
        plain.Should().Throw<ArgumentNullException>().WithParameterName("operation");
    }

    [Fact]
    public void ExecuteAsync_InvalidOptions_ThrowsSynchronouslyNamingTheProperty()
    {
        var options = new RetryOptions { MaxRetries = -1 };
        Action act = () => _ = Retry.ExecuteAsync(_ => Task.FromResult(1), options);
        act.Should().Throw<ArgumentException>().WithParameterName("options")
            .WithMessage("RetryOptions.MaxRetries must be zero or more (was -1). (Parameter 'options')");
    }

    [Fact]
    public async Task GetAttemptCount_AfterExecutionThroughCreatePipeline_ReturnsTheNumberOfAttempts()
    {
        var clock = FakeClock.Create();
        var pipeline = new ResiliencePipelineBuilder().AddPipeline(NoJitter(clock).CreatePipeline()).Build();
        var context = ResilienceContextPool.Shared.Get(TestContext.Current.CancellationToken);
        try
        {
            var attempts = 0;
            var task = pipeline.ExecuteAsync(
                static (ctx, counter) => ++counter[0] < 3 ? ValueTask.FromException<int>(new IOException()) : ValueTask.FromResult(counter[0]),
                context,
                new int[1]).AsTask();
            attempts = await clock.AdvanceUntilCompletedAsync(task, TimeSpan.FromMilliseconds(500));

            attempts.Should().Be(3);
            Retry.GetAttemptCount(context).Should().Be(3);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    [Fact]
    public async Task GetAttemptCount_FirstAttemptSucceeds_ReturnsOne()
    {
        var context = ResilienceContextPool.Shared.Get(TestContext.Current.CancellationToken);
        await new RetryOptions().CreatePipeline().ExecuteAsync(static _ => ValueTask.CompletedTask, context);
        Retry.GetAttemptCount(context).Should().Be(1);
        ResilienceContextPool.Shared.Return(context);
    }

    [Fact]
    public void GetAttemptCount_NullContext_ThrowsArgumentNullException()
    {
        var act = () => Retry.GetAttemptCount(null!);
        act.Should().Throw<ArgumentNullException>().WithParameterName("context");
    }

    [Fact]
    public void AttemptCountKey_UsesTheDocumentedNameOfTheDataKey()
    {
        Retry.AttemptCountKey.Key.Should().Be(Retry.AttemptCountDataKey).And.Be("AsyncPatterns.Retries.AttemptCount");
    }

    [Fact]
    public async Task ExecuteAsync_MaxTotalDelaySpentExactly_StopsRetrying()
    {
        var clock = FakeClock.Create();
        var attempts = 0;
        var options = new RetryOptions
        {
            MaxRetries = 10,
            BaseDelay = TimeSpan.FromSeconds(1),
            BackoffType = DelayBackoffType.Constant,
            UseJitter = false,
            MaxTotalDelay = TimeSpan.FromSeconds(2),
            TimeProvider = clock,
        };
        var task = Retry.ExecuteAsync(
            _ =>
            {
                Interlocked.Increment(ref attempts);
                return Task.FromException(new IOException());
            },
            options,
            TestContext.Current.CancellationToken);

        await clock.AdvanceUntilAsync(() => task.IsCompleted, TimeSpan.FromMilliseconds(500));

        var ex = await task.Awaiting(t => t).Should().ThrowAsync<IOException>();
        Volatile.Read(ref attempts).Should().Be(3, "two 1 s waits spend the 2 s budget exactly, so no third retry is scheduled");
        ex.Which.Data[Retry.AttemptCountDataKey].Should().Be(3);
    }
}
