using System.Runtime.ExceptionServices;

namespace AsyncPatterns.TaskGroups.Internal;

/// <summary>
/// The implementation of <see cref="TaskGroup.RaceAsync{T}"/>: a group whose first success cancels the rest.
/// The winner is either returned or disposed, never leaked: when a loser's late result fails to dispose, or the race
/// ends in cancellation or a timeout after a candidate succeeded, the winner is disposed and the race throws.
/// </summary>
internal sealed class TaskGroupRace<T>
{
    private readonly List<TaskGroupFault> _faults = [];
    private readonly List<TaskGroupFault> _disposalFaults = [];
    private readonly string? _name;
    private int _won;
    private int _winnerIndex;
    private T _winner = default!;

    private TaskGroupRace(string? name)
    {
        _name = name;
    }

    public static async Task<T> RunAsync(Func<CancellationToken, Task<T>>[] candidates, TaskGroupOptions? options, CancellationToken cancellationToken)
    {
        var race = new TaskGroupRace<T>(options?.Name);
        var groupOptions = new TaskGroupOptions
        {
            MaxConcurrency = options?.MaxConcurrency,
            Timeout = options?.Timeout,
            TimeProvider = options?.TimeProvider ?? TimeProvider.System,
            Name = options?.Name,
        };

        Exception? failure = null;
        try
        {
            await TaskGroup.RunAsync(
                group =>
                {
                    for (var i = 0; i < candidates.Length; i++)
                    {
                        var index = i;
                        var candidate = candidates[i];
                        _ = group.Run(token => race.RunCandidateAsync(group, index, candidate, token), CandidateName(index));
                    }

                    return Task.CompletedTask;
                },
                groupOptions,
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            failure = ex;
        }

        var subject = TaskGroupException.Subject("race", race._name);
        if (Volatile.Read(ref race._won) == 1)
        {
            List<TaskGroupFault> disposalFaults;
            lock (race._disposalFaults)
            {
                disposalFaults = [.. race._disposalFaults];
            }

            if (failure is null && disposalFaults.Count == 0)
            {
                return race._winner;
            }

            // The race throws, so the winner it will never return is disposed.
            if (await race.TryDisposeAsync(race._winner, race._winnerIndex).ConfigureAwait(false) is { } winnerFault)
            {
                disposalFaults.Add(winnerFault);
            }

            if (disposalFaults.Count > 0)
            {
                throw TaskGroupException.Append(failure as TaskGroupException, subject, disposalFaults);
            }
        }

        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }

        lock (race._faults)
        {
            throw TaskGroupException.Create(subject, [.. race._faults]);
        }
    }

    private static string CandidateName(int index) => $"candidate[{index}]";

    private async Task RunCandidateAsync(TaskGroup group, int index, Func<CancellationToken, Task<T>> candidate, CancellationToken token)
    {
        T result;
        try
        {
            result = await candidate(token).ConfigureAwait(false);
        }
        catch (Exception ex) when (!group.IsCancellation(ex, token))
        {
            // A losing candidate's fault is an expected outcome of the race; it matters only if nobody wins.
            lock (_faults)
            {
                _faults.Add(new TaskGroupFault(ex, CandidateName(index), _name));
            }

            return;
        }

        if (Interlocked.CompareExchange(ref _won, 1, 0) == 0)
        {
            _winner = result;
            _winnerIndex = index;
            Volatile.Write(ref _won, 1);
            group.Cancel();
        }
        else if (await TryDisposeAsync(result, index).ConfigureAwait(false) is { } fault)
        {
            lock (_disposalFaults)
            {
                _disposalFaults.Add(fault);
            }
        }
    }

    /// <summary>Disposes a result the race does not return; its exception, if it throws, becomes a fault of the race.</summary>
    private async Task<TaskGroupFault?> TryDisposeAsync(T result, int index)
    {
        try
        {
            if (result is IAsyncDisposable asyncDisposable)
            {
                await asyncDisposable.DisposeAsync().ConfigureAwait(false);
            }
            else if (result is IDisposable disposable)
            {
                disposable.Dispose();
            }

            return null;
        }
        catch (Exception ex)
        {
            return new TaskGroupFault(ex, CandidateName(index), _name);
        }
    }
}
