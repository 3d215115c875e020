using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AsyncPatterns.BackgroundTasks.Internal;

/// <summary>Shuts the registered <see cref="BackgroundTaskTracker"/> down when the host stops, within the host's remaining shutdown time.</summary>
/// <remarks>
/// The host cancels the token <see cref="StopAsync"/> receives when its <c>HostOptions.ShutdownTimeout</c> (counted from
/// the moment it began to stop) runs out, so that token is the host's remaining shutdown time: the tracker's grace period
/// ends when it is cancelled, or after <see cref="BackgroundTaskTrackerOptions.DefaultGrace"/>, whichever comes first.
/// The report is then complete (whatever still runs is listed as abandoned) and logged before the host moves on.
/// <c>HostOptions</c> itself lives in <c>Microsoft.Extensions.Hosting</c>, which this library does not reference; the
/// token carries the same deadline, already reduced by the time other services took to stop.
/// </remarks>
internal sealed class BackgroundTaskTrackerHostedService(BackgroundTaskTracker tracker, TimeSpan defaultGrace, ILogger logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var report = await tracker.ShutdownWithinAsync(defaultGrace, graceEnd: cancellationToken, CancellationToken.None).ConfigureAwait(false);
        if (cancellationToken.IsCancellationRequested && report.Abandoned.Count > 0)
        {
            BackgroundTaskLog.HostGaveUp(logger);
        }
    }
}
