using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AsyncPatterns.BackgroundTasks.Internal;

/// <summary>
/// Shuts the registered <see cref="BackgroundTaskTracker"/> down when the host has stopped its hosted services, within
/// the host's remaining shutdown time.
/// </summary>
/// <remarks>
/// <para>
/// The shutdown runs in <see cref="StoppedAsync"/>, which the host calls after the <c>StopAsync</c> of every hosted
/// service has returned (whatever their registration order, and also with <c>HostOptions.ServicesStopConcurrently</c>).
/// So a <see cref="BackgroundService"/> that feeds the tracker may hand it work until its own stop has completed: the
/// tracker is still open then, whether it was registered before or after that service. <see cref="StopAsync"/> does
/// nothing.
/// </para>
/// <para>
/// The host passes every stop phase the same token, cancelled when its <c>HostOptions.ShutdownTimeout</c> (counted from
/// the moment it began to stop) runs out, so that token is the host's remaining shutdown time: the tracker's grace period
/// ends when it is cancelled, or after <see cref="BackgroundTaskTrackerOptions.DefaultGrace"/>, whichever comes first.
/// If the application already began the shutdown (say, <c>ShutdownAsync(TimeSpan.FromMinutes(10))</c> from
/// <c>ApplicationStopping</c>), that shutdown keeps its own grace but still ends it when this token is cancelled, so the
/// host's stop is never held beyond its timeout. A logger that throws is ignored (the tracker's log methods are contained).
/// The report is then complete (whatever still runs is listed as abandoned), logged before the host moves on, and
/// available from <see cref="BackgroundTaskTracker.ShutdownCompletion"/>.
/// <c>HostOptions</c> itself lives in <c>Microsoft.Extensions.Hosting</c>, which this library does not reference; the
/// token carries the same deadline, already reduced by the time other services took to stop.
/// </para>
/// </remarks>
internal sealed class BackgroundTaskTrackerHostedService(BackgroundTaskTracker tracker, TimeSpan defaultGrace, ILogger logger) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        var report = await tracker.ShutdownWithinAsync(defaultGrace, graceEnd: cancellationToken, CancellationToken.None).ConfigureAwait(false);
        if (cancellationToken.IsCancellationRequested && report.Abandoned.Count > 0)
        {
            BackgroundTaskLog.HostGaveUp(logger);
        }
    }
}
