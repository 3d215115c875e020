namespace AsyncPatterns.TaskGroups.Internal;

/// <summary>
/// The implementation of <see cref="TaskGroup.ForEachAsync{TSource, TResult}(IEnumerable{TSource}, int, Func{TSource, CancellationToken, Task{TResult}}, CancellationToken)"/>:
/// a fail-fast group of at most <c>maxConcurrency</c> workers that take items one at a time and write each result
/// at its item's index.
/// </summary>
internal sealed class TaskGroupForEach<TSource, TResult>
{
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
        finally
        {
            loop._enumerator?.Dispose();
        }

        return loop._results;
    }

    public static async Task<IReadOnlyList<TResult>> RunAsync(
        IAsyncEnumerable<TSource> source, int maxConcurrency, Func<TSource, CancellationToken, Task<TResult>> body, CancellationToken cancellationToken)
    {
        var loop = new TaskGroupForEach<TSource, TResult>(body, 0);
        using var gate = new SemaphoreSlim(1, 1);
        loop._asyncGate = gate;
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
        finally
        {
            if (loop._asyncEnumerator is { } enumerator)
            {
                await enumerator.DisposeAsync().ConfigureAwait(false);
            }
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
                if (_done || !_enumerator!.MoveNext())
                {
                    _done = true;
                    return;
                }

                item = _enumerator.Current;
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
                if (_done || !await _asyncEnumerator!.MoveNextAsync().ConfigureAwait(false))
                {
                    _done = true;
                    return;
                }

                item = _asyncEnumerator.Current;
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
