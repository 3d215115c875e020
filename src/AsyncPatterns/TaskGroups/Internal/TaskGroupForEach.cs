using System.Runtime.ExceptionServices;

namespace AsyncPatterns.TaskGroups.Internal;

/// <summary>
/// The implementation of <see cref="TaskGroup.ForEachAsync{TSource, TResult}(IEnumerable{TSource}, int, Func{TSource, CancellationToken, Task{TResult}}, CancellationToken)"/>:
/// a fail-fast group of at most <c>maxConcurrency</c> workers that take items one at a time and write each result
/// at its item's index. An enumerator that threw is never called again (its fault is reported once), and a
/// throwing <c>Dispose</c>/<c>DisposeAsync</c> of the source is reported after the loop's own faults, never instead of them.
/// </summary>
internal sealed class TaskGroupForEach<TSource, TResult>
{
    private const string SourceName = "(source)";

    private readonly Func<TSource, CancellationToken, Task<TResult>> _body;
    private readonly object _lock = new();
    private readonly List<TResult> _results;
    private IEnumerator<TSource>? _enumerator;
    private IAsyncEnumerator<TSource>? _asyncEnumerator;
    private SemaphoreSlim? _asyncGate;
    private bool _done;

    private TaskGroupForEach(Func<TSource, CancellationToken, Task<TResult>> body, int capacity)
    {
        _body = body;
        _results = new List<TResult>(capacity);
    }

    public static async Task<IReadOnlyList<TResult>> RunAsync(
        IEnumerable<TSource> source, int maxConcurrency, Func<TSource, CancellationToken, Task<TResult>> body, CancellationToken cancellationToken)
    {
        var count = source.TryGetNonEnumeratedCount(out var known) ? known : -1;
        if (count == 0)
        {
            return [];
        }

        var loop = new TaskGroupForEach<TSource, TResult>(body, Math.Max(count, 0));
        var workers = count > 0 ? Math.Min(count, maxConcurrency) : maxConcurrency;
        Exception? failure = null;
        try
        {
            await TaskGroup.RunAsync(
                group =>
                {
                    loop._enumerator = source.GetEnumerator();
                    for (var i = 0; i < workers; i++)
                    {
                        _ = group.Run(loop.WorkAsync);
                    }

                    return Task.CompletedTask;
                },
                cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            failure = ex;
        }

        Exception? disposeFault = null;
        try
        {
            loop._enumerator?.Dispose();
        }
        catch (Exception ex)
        {
            disposeFault = ex;
        }

        return Outcome(loop, failure, disposeFault);
    }

    public static async Task<IReadOnlyList<TResult>> RunAsync(
        IAsyncEnumerable<TSource> source, int maxConcurrency, Func<TSource, CancellationToken, Task<TResult>> body, CancellationToken cancellationToken)
    {
        var loop = new TaskGroupForEach<TSource, TResult>(body, 0);
        using var gate = new SemaphoreSlim(1, 1);
        loop._asyncGate = gate;
        Exception? failure = null;
        try
        {
            await TaskGroup.RunAsync(
                group =>
                {
                    loop._asyncEnumerator = source.GetAsyncEnumerator(group.Token);
                    for (var i = 0; i < maxConcurrency; i++)
                    {
                        _ = group.Run(loop.AsyncWorkAsync);
                    }

                    return Task.CompletedTask;
                },
                cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            failure = ex;
        }

        Exception? disposeFault = null;
        try
        {
            if (loop._asyncEnumerator is { } enumerator)
            {
                await enumerator.DisposeAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            disposeFault = ex;
        }

        return Outcome(loop, failure, disposeFault);
    }

    /// <summary>The results, or the loop's failure with the source's disposal fault after it (a fault beats a cancellation).</summary>
    private static List<TResult> Outcome(TaskGroupForEach<TSource, TResult> loop, Exception? failure, Exception? disposeFault)
    {
        if (disposeFault is not null)
        {
            throw TaskGroupException.Append(failure as TaskGroupException, TaskGroupException.Subject("task group", null), [new TaskGroupFault(disposeFault, SourceName, null)]);
        }

        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }

        return loop._results;
    }

    private async Task WorkAsync(CancellationToken token)
    {
        while (!token.IsCancellationRequested)
        {
            TSource item;
            int index;
            lock (_lock)
            {
                if (_done)
                {
                    return;
                }

                bool moved;
                try
                {
                    moved = _enumerator!.MoveNext();
                    item = moved ? _enumerator.Current : default!;
                }
                catch
                {
                    _done = true; // a source that threw is never asked again: its fault is reported once, by this worker
                    throw;
                }

                if (!moved)
                {
                    _done = true;
                    return;
                }

                index = _results.Count;
                _results.Add(default!);
            }

            var result = await _body(item, token).ConfigureAwait(false);
            lock (_lock)
            {
                _results[index] = result;
            }
        }
    }

    private async Task AsyncWorkAsync(CancellationToken token)
    {
        while (!token.IsCancellationRequested)
        {
            TSource item;
            int index;
            await _asyncGate!.WaitAsync(token).ConfigureAwait(false);
            try
            {
                if (_done)
                {
                    return;
                }

                bool moved;
                try
                {
                    moved = await _asyncEnumerator!.MoveNextAsync().ConfigureAwait(false);
                    item = moved ? _asyncEnumerator.Current : default!;
                }
                catch
                {
                    _done = true; // a source that threw is never asked again: its fault is reported once, by this worker
                    throw;
                }

                if (!moved)
                {
                    _done = true;
                    return;
                }

                lock (_lock)
                {
                    index = _results.Count;
                    _results.Add(default!);
                }
            }
            finally
            {
                _asyncGate.Release();
            }

            var result = await _body(item, token).ConfigureAwait(false);
            lock (_lock)
            {
                _results[index] = result;
            }
        }
    }
}
