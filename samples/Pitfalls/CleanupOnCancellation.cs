namespace AsyncPatterns.Samples.Pitfalls;

/// <summary>
/// Pitfall 4: cleanup written as the last line of the method. Cancellation (or any exception) leaves the method at
/// the <c>await</c> that was interrupted, so the close never runs and the connection leaks. <c>await using</c>
/// (or try/finally) closes it on every path.
/// </summary>
internal static class CleanupOnCancellation
{
    private static readonly TimeSpan s_slowQuery = TimeSpan.FromSeconds(30);

    public static async Task<bool> RunAsync(Scale scale)
    {
        Console.WriteLine();
        Console.WriteLine("4. Skipping cleanup on cancellation");

        var wrong = await CancelMidQueryAsync(RunReportLeakingAsync, scale.Connections);
        Console.WriteLine($"   wrong: close as the last statement: {wrong.Opened} opened, {wrong.Closed} closed, {wrong.Open} connections leaked");

        var right = await CancelMidQueryAsync(RunReportAsync, scale.Connections);
        Console.WriteLine($"   right: await using: {right.Opened} opened, {right.Closed} closed, {right.Open} connections leaked");
        return right.Open == 0 && right.Opened == scale.Connections;
    }

    // Wrong: the close is skipped when QueryAsync throws OperationCanceledException.
    private static async Task RunReportLeakingAsync(ConnectionCounter counter, CancellationToken cancellationToken)
    {
        var connection = await FakeConnection.OpenAsync(counter, cancellationToken);
        await connection.QueryAsync(s_slowQuery, cancellationToken);
        await connection.DisposeAsync();
    }

    // Right: the connection is closed however the method ends.
    private static async Task RunReportAsync(ConnectionCounter counter, CancellationToken cancellationToken)
    {
        await using var connection = await FakeConnection.OpenAsync(counter, cancellationToken);
        await connection.QueryAsync(s_slowQuery, cancellationToken);
    }

    // Starts the jobs, cancels them once every connection is open (mid-query), and waits for them all to end.
    private static async Task<ConnectionCounter> CancelMidQueryAsync(Func<ConnectionCounter, CancellationToken, Task> job, int jobs)
    {
        var counter = new ConnectionCounter();
        using var cancellation = new CancellationTokenSource();
        var running = Enumerable.Range(0, jobs).Select(_ => job(counter, cancellation.Token)).ToArray();
        for (var i = 0; i < 500 && counter.Opened < jobs; i++)
        {
            await Task.Delay(10);
        }

        await cancellation.CancelAsync();
        try
        {
            await Task.WhenAll(running);
        }
        catch (OperationCanceledException)
        {
            // Every job was cancelled, as intended.
        }

        return counter;
    }
}
