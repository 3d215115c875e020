using AsyncPatterns.BackgroundTasks;
using AsyncPatterns.BackgroundTasks.Internal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AsyncPatterns.Tests.BackgroundTasks;

public sealed class BackgroundTaskTrackerServiceCollectionExtensionsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void AddBackgroundTaskTracker_NullArguments_Throw()
    {
        var nullServices = () => BackgroundTaskTrackerServiceCollectionExtensions.AddBackgroundTaskTracker(null!);
        var nullConfigure = () => new ServiceCollection().AddBackgroundTaskTracker((Action<BackgroundTaskTrackerOptions>)null!);
        var nullConfiguration = () => new ServiceCollection().AddBackgroundTaskTracker((IConfigurationSection)null!);

        nullServices.Should().Throw<ArgumentNullException>().WithParameterName("services");
        nullConfigure.Should().Throw<ArgumentNullException>().WithParameterName("configure");
        nullConfiguration.Should().Throw<ArgumentNullException>().WithParameterName("configuration");
    }

    [Fact]
    public async Task AddBackgroundTaskTracker_ConfigurationSection_BindsTheOptions()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection([
            new("BackgroundTasks:MaxInFlight", "2"),
            new("BackgroundTasks:MaxQueued", "0"),
            new("BackgroundTasks:DefaultGrace", "00:00:07"),
            new("BackgroundTasks:FaultBehavior", "LogAndStopHost"),
        ]);
        builder.Services.AddBackgroundTaskTracker(builder.Configuration.GetSection("BackgroundTasks"));
        using var host = builder.Build();
        await host.StartAsync(Ct);
        var tracker = host.Services.GetRequiredService<BackgroundTaskTracker>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var options = host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<BackgroundTaskTrackerOptions>>().Value;
        options.DefaultGrace.Should().Be(TimeSpan.FromSeconds(7));
        options.FaultBehavior.Should().Be(BackgroundTaskFaultBehavior.LogAndStopHost);
        tracker.TryStart(_ => gate.Task).Should().BeTrue();
        tracker.TryStart(_ => gate.Task).Should().BeTrue();
        tracker.TryStart(_ => gate.Task).Should().BeFalse("MaxInFlight 2 and MaxQueued 0 came from configuration");
        gate.SetResult();
        await host.StopAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);
    }

    [Fact]
    public void AddBackgroundTaskTracker_CalledTwice_RegistersOneTrackerAndOneHostedService()
    {
        var services = new ServiceCollection();

        services.AddBackgroundTaskTracker().Services.AddBackgroundTaskTracker(o => o.MaxInFlight = 3);

        services.Count(d => d.ServiceType == typeof(BackgroundTaskTracker)).Should().Be(1);
        services.Count(d => d.ServiceType == typeof(IHostedService)).Should().Be(1);
    }

    [Fact]
    public async Task StartAsync_InvalidOptions_FailsTheHostStart()
    {
        using var host = BuildHost(FakeClock.Create(), o => o.MaxInFlight = 0);

        var act = () => host.StartAsync(Ct);

        (await act.Should().ThrowAsync<Microsoft.Extensions.Options.OptionsValidationException>()).Which.Message
            .Should().Contain("BackgroundTaskTrackerOptions.MaxInFlight must be at least 1 (was 0).");
    }

    [Fact]
    public async Task StopAsync_RunningWork_RunsTheTrackersShutdownAndLogsTheReport()
    {
        var time = FakeClock.Create();
        using var host = BuildHost(time, o => o.MaxInFlight = 2);
        await host.StartAsync(Ct);
        var tracker = host.Services.GetRequiredService<BackgroundTaskTracker>();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tracker.TryStart(
            async ct =>
            {
                started.SetResult();
                await Task.Delay(Timeout.InfiniteTimeSpan, time, ct);
            },
            "poller").Should().BeTrue();
        await started.Task.WaitAsync(FakeClock.HangTimeout, Ct);

        await host.StopAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        tracker.TryStart(_ => Task.CompletedTask).Should().BeFalse();
        var report = await tracker.ShutdownAsync(TimeSpan.Zero, Ct);
        report.Cancelled.Should().Be(1);
        report.IsClean.Should().BeTrue();
        host.Services.GetFakeLogCollector().GetSnapshot().Should().ContainSingle(r => r.Id.Id == BackgroundTaskLog.ShutdownCompletedId);
    }

    [Fact]
    public async Task StopAsync_StubbornWork_WaitsTheDefaultGraceOnTheTrackersClock()
    {
        var time = FakeClock.Create();
        using var host = BuildHost(time, o => o.DefaultGrace = TimeSpan.FromSeconds(5));
        await host.StartAsync(Ct);
        var tracker = host.Services.GetRequiredService<BackgroundTaskTracker>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tracker.TryStart(_ => gate.Task, "stubborn").Should().BeTrue();

        var stop = host.StopAsync(Ct);
        await time.AdvanceAsync(TimeSpan.FromSeconds(4.9));
        stop.IsCompleted.Should().BeFalse();
        await time.AdvanceAsync(TimeSpan.FromSeconds(0.1));
        await stop.WaitAsync(FakeClock.HangTimeout, Ct);

        (await tracker.ShutdownAsync(TimeSpan.Zero, Ct)).Abandoned.Should().Equal("stubborn");
        gate.SetResult();
    }

    [Fact]
    public async Task StopAsync_HostTimeoutEndsFirst_EndsTheGraceAtOnceAndReportsTheAbandonedWork()
    {
        var time = FakeClock.Create();
        using var host = BuildHost(time, o => o.DefaultGrace = TimeSpan.FromHours(1));
        await host.StartAsync(Ct);
        var tracker = host.Services.GetRequiredService<BackgroundTaskTracker>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tracker.TryStart(_ => gate.Task, "stubborn").Should().BeTrue();
        using var hostTimeout = new CancellationTokenSource();

        var stop = host.StopAsync(hostTimeout.Token);
        await FakeClock.SettleAsync();
        stop.IsCompleted.Should().BeFalse();
        await hostTimeout.CancelAsync();
        await stop.WaitAsync(FakeClock.HangTimeout, Ct);

        (await tracker.ShutdownAsync(TimeSpan.Zero, Ct)).Abandoned.Should().Equal("stubborn");
        host.Services.GetFakeLogCollector().GetSnapshot().Should().ContainSingle(r => r.Id.Id == BackgroundTaskLog.HostGaveUpId);
        gate.SetResult();
    }

    [Fact]
    public async Task StopAsync_ShutdownAlreadyStartedWithALongerGrace_EndsWhenTheHostStopTokenIsCancelled()
    {
        var time = FakeClock.Create();
        using var host = BuildHost(time, o => o.DefaultGrace = TimeSpan.FromMinutes(1));
        await host.StartAsync(Ct);
        var tracker = host.Services.GetRequiredService<BackgroundTaskTracker>();
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        Task<ShutdownReport>? early = null;
        using var stopping = lifetime.ApplicationStopping.Register(() => early = tracker.ShutdownAsync(TimeSpan.FromMinutes(10)));
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tracker.TryStart(_ => gate.Task, "stubborn").Should().BeTrue();
        using var hostTimeout = new CancellationTokenSource();

        try
        {
            var stop = host.StopAsync(hostTimeout.Token);
            await FakeClock.SettleAsync();
            early.Should().NotBeNull("the application began the shutdown from ApplicationStopping");
            stop.IsCompleted.Should().BeFalse("neither grace has ended");
            await hostTimeout.CancelAsync();

            await stop.WaitAsync(FakeClock.HangTimeout, Ct);
            var report = await early!.WaitAsync(FakeClock.HangTimeout, Ct);
            report.Abandoned.Should().Equal("stubborn");
            host.Services.GetFakeLogCollector().GetSnapshot().Should().ContainSingle(r => r.Id.Id == BackgroundTaskLog.HostGaveUpId);
        }
        finally
        {
            // Ends the work, so disposing the host (which awaits the tracker's shutdown) never waits out the 10 minutes.
            gate.SetResult();
        }
    }

    [Fact]
    public async Task StopAsync_TrackerLoggerThrows_TheHostStopsWithoutErrorAndTheReportIsComplete()
    {
        var time = FakeClock.Create();
        var provider = new BackgroundTaskTrackerContainmentTests.ThrowingLoggerProvider(onlyCategory: typeof(BackgroundTaskTracker).FullName);
        using var host = BuildHost(time, o => o.DefaultGrace = TimeSpan.FromHours(1), provider);
        await host.StartAsync(Ct);
        var tracker = host.Services.GetRequiredService<BackgroundTaskTracker>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tracker.TryStart(_ => gate.Task, "stubborn").Should().BeTrue();
        using var hostTimeout = new CancellationTokenSource();

        var stop = host.StopAsync(hostTimeout.Token);
        await FakeClock.SettleAsync();
        await hostTimeout.CancelAsync();

        await stop.WaitAsync(FakeClock.HangTimeout, Ct);
        (await tracker.ShutdownAsync(TimeSpan.Zero, Ct)).Abandoned.Should().Equal("stubborn");
        provider.Thrown.Should().BeGreaterThanOrEqualTo(2, "the report and the host's giving up were handed to the logger, which threw");
        gate.SetResult();
    }

    [Fact]
    public async Task TryStart_FaultWithLogAndStopHost_StopsTheApplication()
    {
        using var host = BuildHost(FakeClock.Create(), o => o.FaultBehavior = BackgroundTaskFaultBehavior.LogAndStopHost);
        await host.StartAsync(Ct);
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        var tracker = host.Services.GetRequiredService<BackgroundTaskTracker>();

        tracker.TryStart(_ => throw new InvalidOperationException("fatal"), "critical-job").Should().BeTrue();

        await FakeClock.WaitUntilAsync(() => lifetime.ApplicationStopping.IsCancellationRequested, cancellationToken: Ct);
        var records = host.Services.GetFakeLogCollector().GetSnapshot();
        records.Should().ContainSingle(r => r.Id.Id == BackgroundTaskLog.TaskFaultedId).Which.Message.Should().Contain("'critical-job'");
        records.Should().ContainSingle(r => r.Id.Id == BackgroundTaskLog.StoppingHostId);
        await host.StopAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);
    }

    [Fact]
    public async Task TryStart_FaultWithLog_KeepsTheApplicationRunning()
    {
        using var host = BuildHost(FakeClock.Create(), _ => { });
        await host.StartAsync(Ct);
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        var tracker = host.Services.GetRequiredService<BackgroundTaskTracker>();

        tracker.TryStart(_ => throw new InvalidOperationException("not fatal"), "optional-job").Should().BeTrue();

        await FakeClock.WaitUntilAsync(() => host.Services.GetFakeLogCollector().GetSnapshot().Any(r => r.Id.Id == BackgroundTaskLog.TaskFaultedId), cancellationToken: Ct);
        await FakeClock.WaitUntilAsync(() => tracker.InFlight == 0, cancellationToken: Ct);
        lifetime.ApplicationStopping.IsCancellationRequested.Should().BeFalse();
        await host.StopAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task StopAsync_FeederRegisteredBeforeOrAfterTheTracker_HandsItsLastWorkToTheTrackerWithoutError(bool feederFirst)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddFakeLogging();
        builder.Services.AddSingleton<TimeProvider>(FakeClock.Create());
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMinutes(5));
        if (feederFirst)
        {
            builder.Services.AddHostedService<FlushOnStopFeeder>();
            builder.Services.AddBackgroundTaskTracker();
        }
        else
        {
            builder.Services.AddBackgroundTaskTracker();
            builder.Services.AddHostedService<FlushOnStopFeeder>();
        }

        using var host = builder.Build();
        var feeder = host.Services.GetServices<IHostedService>().OfType<FlushOnStopFeeder>().Single();
        await host.StartAsync(Ct);
        await feeder.Running.WaitAsync(FakeClock.HangTimeout, Ct);

        await host.StopAsync(Ct).WaitAsync(FakeClock.HangTimeout, Ct);

        feeder.Error.Should().BeNull("the tracker must still accept work while the services feeding it stop");
        feeder.Flushed.Task.IsCompletedSuccessfully.Should().BeTrue("the flush handed over at stop ran before the tracker shut down");
        var report = await host.Services.GetRequiredService<BackgroundTaskTracker>().ShutdownCompletion.WaitAsync(FakeClock.HangTimeout, Ct);
        report.IsClean.Should().BeTrue();
        report.Abandoned.Should().BeEmpty();
    }

    [Fact]
    public async Task RunAsync_HostStoppedByTheApplication_ShutdownCompletionHasTheReportAfterTheHostIsDisposed()
    {
        var time = FakeClock.Create();
        var host = BuildHost(time, o => o.DefaultGrace = TimeSpan.FromSeconds(5));
        var tracker = host.Services.GetRequiredService<BackgroundTaskTracker>();
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        var run = host.RunAsync(Ct);
        await FakeClock.WaitUntilAsync(() => lifetime.ApplicationStarted.IsCancellationRequested, cancellationToken: Ct);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tracker.TryStart(
            ct =>
            {
                ct.Register(() => cancelled.TrySetResult());
                return gate.Task;
            },
            "stubborn").Should().BeTrue();
        tracker.ShutdownCompletion.IsCompleted.Should().BeFalse();

        lifetime.StopApplication();
        await cancelled.Task.WaitAsync(FakeClock.HangTimeout, Ct);
        await FakeClock.SettleAsync();
        tracker.ShutdownCompletion.IsCompleted.Should().BeFalse("the default grace has not ended");
        await time.AdvanceUntilCompletedAsync(run.WaitAsync(FakeClock.HangTimeout, Ct), TimeSpan.FromSeconds(1));

        tracker.ShutdownCompletion.IsCompletedSuccessfully.Should().BeTrue();
        var report = await tracker.ShutdownCompletion;
        report.Abandoned.Should().Equal("stubborn");
        report.Elapsed.Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds(5), "the default grace ran out on the tracker's clock");
        gate.SetResult();
    }

    /// <summary>A feeder that hands one last piece of work ("flush") to the tracker when the host stops it.</summary>
    private sealed class FlushOnStopFeeder(BackgroundTaskTracker tracker) : BackgroundService
    {
        private readonly TaskCompletionSource _running = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Running => _running.Task;

        public TaskCompletionSource Flushed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Exception? Error { get; private set; }

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            _running.SetResult();
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, stoppingToken);
            }
            catch (OperationCanceledException)
            {
            }

            try
            {
                await tracker.StartAsync(
                    _ =>
                    {
                        Flushed.SetResult();
                        return Task.CompletedTask;
                    },
                    "flush",
                    CancellationToken.None);
            }
            catch (InvalidOperationException ex)
            {
                Error = ex;
            }
        }
    }

    private static IHost BuildHost(FakeTimeProvider time, Action<BackgroundTaskTrackerOptions> configure, ILoggerProvider? trackerLogs = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddFakeLogging();
        if (trackerLogs is not null)
        {
            builder.Logging.AddProvider(trackerLogs);
        }

        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMinutes(5));
        builder.Services.AddBackgroundTaskTracker(configure);
        return builder.Build();
    }
}
