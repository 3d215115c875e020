using System.Text;
using AsyncPatterns.BackgroundTasks;
using AsyncPatterns.Http;
using AsyncPatterns.IntegrationTests.TestSupport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AsyncPatterns.IntegrationTests.DependencyInjection;

/// <summary>The AddXxx registrations under a real host: options from JSON configuration, validation at start, shutdown order.</summary>
public sealed class HostedRegistrationTests(LoopbackServerFixture fixture) : IClassFixture<LoopbackServerFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AddConcurrentHttpFetcher_JsonConfigurationWithRetry_RetriesA429AgainstKestrel()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("""
            { "Fetchers": { "Items": { "MaxConcurrency": 2, "PerRequestTimeout": "00:00:10",
                                       "Retry": { "MaxRetries": 3, "BaseDelay": "00:00:00.010", "UseJitter": false } } } }
            """)));
        builder.Services.AddConcurrentHttpFetcher("items", builder.Configuration.GetSection("Fetchers:Items"));
        using var host = builder.Build();
        await host.StartAsync(Ct);
        try
        {
            var fetcher = host.Services.GetRequiredKeyedService<ConcurrentHttpFetcher>("items");
            var key = Guid.NewGuid().ToString("N");

            var results = await fetcher.FetchAllRawAsync([fixture.Server.Url($"ratelimited?key={key}&times=2&retryAfter=0")], Ct);

            results.Should().ContainSingle().Which.IsSuccess.Should().BeTrue();
            results[0].Attempts.Should().Be(3, "two 429s were retried with the retry options bound from JSON");
        }
        finally
        {
            await host.StopAsync(Ct);
        }
    }

    [Fact]
    public async Task AddConcurrentHttpFetcher_InvalidRetryInConfiguration_HostStartFailsNamingTheFetcher()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection([new("Fetchers:Items:Retry:MaxRetries", "-1")]);
        builder.Services.AddConcurrentHttpFetcher("items", builder.Configuration.GetSection("Fetchers:Items"));
        using var host = builder.Build();

        var start = () => host.StartAsync(Ct);

        (await start.Should().ThrowAsync<OptionsValidationException>()).Which.Message.Should().Be("FetchOptions 'items': FetchOptions.Retry.MaxRetries must be zero or more (was -1).");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RunAsync_FeederRegisteredBeforeOrAfterTheTracker_ItsLastWorkRunsAndTheReportIsAvailable(bool feederFirst)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        if (feederFirst)
        {
            builder.Services.AddHostedService<Feeder>();
            builder.Services.AddBackgroundTaskTracker(o => o.DefaultGrace = TimeSpan.FromSeconds(10));
        }
        else
        {
            builder.Services.AddBackgroundTaskTracker(o => o.DefaultGrace = TimeSpan.FromSeconds(10));
            builder.Services.AddHostedService<Feeder>();
        }

        var host = builder.Build();
        var tracker = host.Services.GetRequiredService<BackgroundTaskTracker>();
        var feeder = host.Services.GetServices<IHostedService>().OfType<Feeder>().Single();
        var run = host.RunAsync(Ct);
        await feeder.Fed.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        host.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        feeder.Error.Should().BeNull();
        var report = await tracker.ShutdownCompletion.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        report.IsClean.Should().BeTrue();
        report.Cancelled.Should().Be(1, "the long-running job handed over first was cancelled by the shutdown");
        feeder.Flushed.Task.IsCompletedSuccessfully.Should().BeTrue();
    }

    /// <summary>Starts one long job, then hands over a last "flush" job when the host stops it.</summary>
    private sealed class Feeder(BackgroundTaskTracker tracker) : BackgroundService
    {
        private readonly TaskCompletionSource _fed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Fed => _fed.Task;

        public TaskCompletionSource Flushed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Exception? Error { get; private set; }

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            try
            {
                await tracker.StartAsync(ct => Task.Delay(Timeout.InfiniteTimeSpan, ct), "long-job", stoppingToken);
                _fed.SetResult();
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
}
