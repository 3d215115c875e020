using System.Collections.Concurrent;
using System.Globalization;

namespace AsyncPatterns.Tests.Reliability;

/// <summary>
/// Seeds, round counts and failure messages of the seeded stress tests.
/// <list type="bullet">
/// <item>CI (default): a fixed base seed, <c>rounds</c> rounds with seeds <see cref="CiSeed"/>, <see cref="CiSeed"/> + 1, ...</item>
/// <item><c>ASYNCPATTERNS_SOAK=1</c> (or <c>=N</c>): <see cref="SoakFactor"/> (or N) times as many rounds, with random seeds.</item>
/// <item><c>ASYNCPATTERNS_SEED=n</c>: replays the one round with seed n (what a failure message asks for).</item>
/// </list>
/// </summary>
internal static class StressHarness
{
    public const int CiSeed = 20_261_124;
    public const int SoakFactor = 25;
    public const string SoakVariable = "ASYNCPATTERNS_SOAK";
    public const string SeedVariable = "ASYNCPATTERNS_SEED";

    public static int? ReplaySeed =>
        int.TryParse(Environment.GetEnvironmentVariable(SeedVariable), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed) ? seed : null;

    public static int SoakMultiplier
    {
        get
        {
            var value = Environment.GetEnvironmentVariable(SoakVariable);
            if (string.IsNullOrEmpty(value) || value == "0")
            {
                return 1;
            }

            return int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var factor) && factor > 1 ? factor : SoakFactor;
        }
    }

    /// <summary>The seeds of the rounds to run for a test that runs <paramref name="ciRounds"/> rounds in CI.</summary>
    public static IReadOnlyList<int> Seeds(int ciRounds)
    {
        if (ReplaySeed is { } replay)
        {
            return [replay];
        }

        var multiplier = SoakMultiplier;
        return multiplier == 1
            ? [.. Enumerable.Range(0, ciRounds).Select(i => CiSeed + i)]
            : [.. Enumerable.Range(0, ciRounds * multiplier).Select(_ => Random.Shared.Next())];
    }

    /// <summary>
    /// Runs one round per seed; a failing round fails the test with its seed and the variable that replays it.
    /// Each round runs under <see cref="UnobservedExceptionMonitor"/>: an unobserved task exception carrying
    /// <paramref name="name"/> as its <see cref="StressFault.Tag"/> fails the round.
    /// </summary>
    public static async Task RunAsync(string name, int ciRounds, Func<int, Task> round)
    {
        using var monitor = new UnobservedExceptionMonitor(name);
        foreach (var seed in Seeds(ciRounds))
        {
            try
            {
                await round(seed).WaitAsync(FakeClock.HangTimeout * 3, TestContext.Current.CancellationToken);
            }
            catch (Exception ex) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
            {
                throw new StressFailureException(Message(name, seed, ex.GetType().Name + ": " + ex.Message), ex);
            }
        }

        monitor.CollectAndAssertNone(seed => Message(name, seed, "an exception was never observed"));
    }

    /// <summary>Awaits <paramref name="task"/> for at most <see cref="FakeClock.HangTimeout"/>; a hang fails with <paramref name="what"/>.</summary>
    public static async Task BoundedAsync(Task task, string what)
    {
        try
        {
            await task.WaitAsync(FakeClock.HangTimeout, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"hang: {what} did not complete within {FakeClock.HangTimeout}", ex);
        }
    }

    /// <inheritdoc cref="BoundedAsync(Task, string)"/>
    public static async Task<T> BoundedAsync<T>(Task<T> task, string what)
    {
        await BoundedAsync((Task)task, what);
        return await task;
    }

    public static string Message(string name, int seed, string detail) =>
        $"{name} failed with seed {seed} (replay with {SeedVariable}={seed}): {detail}";

    /// <summary>Raises <paramref name="target"/> to <paramref name="value"/> if it is larger (a measured peak).</summary>
    public static void RaisePeak(ref int target, int value)
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

    /// <summary>Completes when <paramref name="cancellationToken"/> is cancelled (no timer, no real delay).</summary>
    public static Task WhenCancelledAsync(CancellationToken cancellationToken)
    {
        var source = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var registration = cancellationToken.Register(() => source.TrySetCanceled(cancellationToken));
        _ = source.Task.ContinueWith(_ => registration.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return source.Task;
    }
}

/// <summary>The fault the stress tests inject; <see cref="Tag"/> names the test, so a monitor sees only its own faults.</summary>
internal sealed class StressFault(string tag, int seed, int id) : Exception($"injected fault {id} ({tag}, seed {seed})")
{
    public string Tag { get; } = tag;

    public int Seed { get; } = seed;

    public int Id { get; } = id;
}

internal sealed class StressFailureException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// Records <see cref="TaskScheduler.UnobservedTaskException"/> events whose exceptions include a <see cref="StressFault"/>
/// with this monitor's tag (other tests run in parallel in the same process), after a forced full GC.
/// </summary>
internal sealed class UnobservedExceptionMonitor : IDisposable
{
    private readonly string _tag;
    private readonly ConcurrentQueue<StressFault> _unobserved = new();

    public UnobservedExceptionMonitor(string tag)
    {
        _tag = tag;
        TaskScheduler.UnobservedTaskException += OnUnobserved;
    }

    public void CollectAndAssertNone(Func<int, string> message)
    {
        for (var i = 0; i < 2; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        GC.Collect();
        if (_unobserved.TryPeek(out var first))
        {
            throw new InvalidOperationException(
                $"{message(first.Seed)}: {_unobserved.Count} unobserved task exception(s), first: {first.Message}", first);
        }
    }

    public void Dispose() => TaskScheduler.UnobservedTaskException -= OnUnobserved;

    private void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
    {
        foreach (var fault in Flatten(e.Exception).OfType<StressFault>().Where(f => f.Tag == _tag))
        {
            _unobserved.Enqueue(fault);
        }
    }

    private static IEnumerable<Exception> Flatten(Exception exception)
    {
        yield return exception;
        var inner = exception is AggregateException aggregate ? aggregate.InnerExceptions : (IEnumerable<Exception>)(exception.InnerException is null ? [] : [exception.InnerException]);
        foreach (var child in inner.SelectMany(Flatten))
        {
            yield return child;
        }
    }
}
