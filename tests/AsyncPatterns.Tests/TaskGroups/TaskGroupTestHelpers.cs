namespace AsyncPatterns.Tests.TaskGroups;

/// <summary>A fault that carries an id, so a test can tell its own exceptions from anything else.</summary>
internal sealed class ChildFaultException(string id) : Exception($"child fault {id}")
{
    public string Id { get; } = id;
}

internal static class TaskGroupTestHelpers
{
    public static TaskCompletionSource NewGate() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static TaskCompletionSource<T> NewGate<T>() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Waits until <paramref name="token"/> is cancelled (bounded by the hang timeout and the test's token).</summary>
    public static async Task WaitForCancellationAsync(CancellationToken token)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(token, TestContext.Current.CancellationToken);
        await Task.Delay(FakeClock.HangTimeout, linked.Token);
        throw new TimeoutException("The token was never cancelled.");
    }

    public static Task Guard(this Task task) => task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken);

    public static Task<T> Guard<T>(this Task<T> task) => task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken);
}
