namespace AsyncPatterns.Samples.Pitfalls;

/// <summary>How big each demonstration is: small enough to run in a few seconds. Larger sizes (32 work items of 200 ms,
/// a 2 s deadlock timeout, 50 connections, 400 requests) show the same effects more strongly.</summary>
/// <param name="WorkItems">Pitfall 1: blocking work items queued to the thread pool.</param>
/// <param name="WorkDuration">Pitfall 1: how long each work item blocks or waits.</param>
/// <param name="DeadlockTimeout">Pitfall 3: how long to wait before calling it a deadlock.</param>
/// <param name="Connections">Pitfall 4: jobs that open a connection and get cancelled.</param>
/// <param name="Requests">Pitfall 5: requests to send.</param>
internal sealed record Scale(int WorkItems, TimeSpan WorkDuration, TimeSpan DeadlockTimeout, int Connections, int Requests)
{
    public static Scale Default { get; } = new(WorkItems: 16, WorkDuration: TimeSpan.FromMilliseconds(100), DeadlockTimeout: TimeSpan.FromMilliseconds(500), Connections: 10, Requests: 100);
}
