namespace AsyncPatterns.TaskGroups.Internal;

/// <summary>The implementation of <see cref="TaskGroup.RaceAsync{T}"/>: a group whose first success cancels the rest.</summary>
internal sealed class TaskGroupRace<T>
{
    private readonly List<Exception> _faults = [];
    private int _won;
    private T _winner = default!;

    private TaskGroupRace()
    {
    }

    public static async Task<T> RunAsync(Func<CancellationToken, Task<T>>[] candidates, TaskGroupOptions? options, CancellationToken cancellationToken)
    {
        var race = new TaskGroupRace<T>();
        var groupOptions = new TaskGroupOptions
        {
            MaxConcurrency = options?.MaxConcurrency,
            Timeout = options?.Timeout,
            TimeProvider = options?.TimeProvider ?? TimeProvider.System,
            Name = options?.Name,
        };

        await TaskGroup.RunAsync(
            group =>
            {
                foreach (var candidate in candidates)
                {
                    _ = group.Run(token => race.RunCandidateAsync(group, candidate, token));
                }

                return Task.CompletedTask;
            },
            groupOptions,
            cancellationToken).ConfigureAwait(false);

        if (Volatile.Read(ref race._won) == 1)
        {
            return race._winner;
        }

        lock (race._faults)
        {
            throw new TaskGroupException($"All {candidates.Length} candidate(s) of the race faulted; the first: {race._faults[0].Message}", race._faults.ToArray());
        }
    }

    private async Task RunCandidateAsync(TaskGroup group, Func<CancellationToken, Task<T>> candidate, CancellationToken token)
    {
        T result;
        try
        {
            result = await candidate(token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !token.IsCancellationRequested)
        {
            // A losing candidate's fault is an expected outcome of the race; it matters only if nobody wins.
            lock (_faults)
            {
                _faults.Add(ex);
            }

            return;
        }

        if (Interlocked.CompareExchange(ref _won, 1, 0) == 0)
        {
            _winner = result;
            Volatile.Write(ref _won, 1);
            group.Cancel();
        }
        else if (result is IAsyncDisposable asyncDisposable)
        {
            await asyncDisposable.DisposeAsync().ConfigureAwait(false);
        }
        else if (result is IDisposable disposable)
        {
            disposable.Dispose();
        }
    }
}
