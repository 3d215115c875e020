using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Threading.Tasks.Sources;
using AsyncPatterns.Internal;
using AsyncPatterns.RateLimiting;
using Polly;
using Polly.Timeout;

namespace AsyncPatterns.Http.Internal;

/// <summary>
/// One fetch. Up to <see cref="FetchOptions.MaxConcurrency"/> workers each hold one slot and loop over the source
/// themselves, as <c>Parallel.ForEachAsync</c>'s do: pull one request (pulls are serialized), fetch it, deliver its
/// result, pull the next. <c>FetchAll*</c> writes each result into its index, so a slot frees when its request ends.
/// <c>FetchAsync</c> hands a result straight to a waiting consumer (completing its wait inline, so the worker's slot
/// is free at once), or queues it, and a queued result keeps its slot until the consumer takes it; the worker then
/// ends, and taking the result starts a new one. Whatever ends the run (the end, the caller's cancellation, an early
/// break, a fail-fast failure, a fault) stops every worker, and the run completes only when every worker has ended and
/// the source has been disposed.
/// </summary>
/// <remarks>
/// Invariants, under <see cref="_lock"/> (checked by <see cref="AssertInvariants"/>): every slot is free, held by a
/// worker, or held by a queued result (<c>_free + _workers + queued == MaxConcurrency</c>); no worker starts once the run
/// is closed; the source is disposed once, after the last worker ended, and only then is the run finished.
/// </remarks>
internal sealed class FetchRun<T> : IValueTaskSource<bool>, IDisposable
{
    private readonly HttpClient _client;
    private readonly FetchOptions _options;
    private readonly IResponseReader<T> _reader;
    private readonly FetchSource _source;
    private readonly CancellationTokenSource _runCts;
    private readonly CancellationTokenRegistration _stopRegistration;
    private readonly Lock _lock = new();
    private readonly Lock? _syncPullLock;
    private readonly SemaphoreSlim? _asyncPullLock;
    private readonly Dictionary<HostKey, HostGate>? _hostGates;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // FetchAsync only: the results not taken yet, and the consumer's wait for the next one.
    private readonly Queue<FetchResult<T>>? _ready;
    private ManualResetValueTaskSourceCore<bool> _consumerWait;
    private bool _consumerWaiting;
    private FetchResult<T>? _handoff;

    // FetchAll* only: the results by index.
    private readonly List<FetchResult<T>>? _collected;

    private ExceptionDispatchInfo? _stop;
    private int _free;
    private int _workers;
    private bool _closed;
    private bool _stopped;
    private bool _finishing;
    private bool _finished;
    private int _nextIndex;

    private FetchRun(HttpClient client, FetchOptions options, IResponseReader<T> reader, FetchSource source, bool streaming, CancellationToken cancellationToken)
    {
        _client = client;
        _options = options;
        _reader = reader;
        _source = source;
        _runCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _free = options.MaxConcurrency;
        if (source.PullsSynchronously)
        {
            _syncPullLock = new Lock();
        }
        else
        {
            _asyncPullLock = new SemaphoreSlim(1, 1);
        }

        if (options.MaxConcurrencyPerHost is not null)
        {
            _hostGates = [];
        }

        if (streaming)
        {
            _ready = new Queue<FetchResult<T>>();
        }
        else
        {
            _collected = source.Count is { } count ? new List<FetchResult<T>>(count) : [];
        }

        // Whatever stops the run (the caller's token, a fail-fast failure, a fault, the consumer leaving) closes it to
        // new workers and wakes a waiting consumer.
        _stopRegistration = _runCts.Token.UnsafeRegister(static state => ((FetchRun<T>)state!).OnStopped(), this);
    }

    /// <summary>The <c>FetchAsync</c> form: results in completion order, each slot held until its result is taken.</summary>
    public static async IAsyncEnumerable<FetchResult<T>> RunAsync(
        HttpClient client,
        FetchOptions options,
        IResponseReader<T> reader,
        FetchSource source,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Each enumeration is its own pass over the source, with its own slots.
        var run = new FetchRun<T>(client, options, reader, source.Open(), streaming: true, cancellationToken);
        run.Start();
        try
        {
            while (true)
            {
                var result = run.TryTake(out var wait);
                if (wait)
                {
                    await new ValueTask<bool>(run, run._consumerWait.Version).ConfigureAwait(false);
                    result = run.TakeHandoff();
                }

                cancellationToken.ThrowIfCancellationRequested();
                run._stop?.Throw();
                if (result is null)
                {
                    // Finished: every worker ended and the source was disposed.
                    break;
                }

                yield return result;
            }

            await run._done.Task.ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            run._stop?.Throw();
        }
        finally
        {
            await run.CloseAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The <c>FetchAll*</c> form: every result, at its input index.</summary>
    public static async Task<IReadOnlyList<FetchResult<T>>> CollectAsync(
        HttpClient client,
        FetchOptions options,
        IResponseReader<T> reader,
        FetchSource source,
        CancellationToken cancellationToken)
    {
        var run = new FetchRun<T>(client, options, reader, source.Open(), streaming: false, cancellationToken);
        run.Start();
        try
        {
            await run._done.Task.ConfigureAwait(false);
        }
        finally
        {
            await run.CloseAsync().ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
        run._stop?.Throw();
        return run._collected!.AsReadOnly();
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _consumerWait.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _consumerWait.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _consumerWait.OnCompleted(continuation, state, token, flags);

    private void Start()
    {
        lock (_lock)
        {
            _free--;
            _workers++;
            AssertInvariants();
        }

        StartWorker();
    }

    /// <summary>Starts a worker that already holds its slot; <see cref="_workers"/> counts it, and the run waits for it.</summary>
    private void StartWorker() => _ = Task.Run(WorkerAsync, CancellationToken.None);

    /// <summary>Stops the run if it still runs, waits until it finished, and releases its resources. Never throws.</summary>
    private async Task CloseAsync()
    {
        await _runCts.CancelAsync().ConfigureAwait(false);
        bool finish;
        lock (_lock)
        {
            finish = ShouldFinish();
            AssertInvariants();
        }

        if (finish)
        {
            await FinishAsync().ConfigureAwait(false);
        }

        await _done.Task.ConfigureAwait(false);
        await _stopRegistration.DisposeAsync().ConfigureAwait(false);
        Dispose();
    }

    /// <summary>Releases the run's resources; called by <see cref="CloseAsync"/> once the run finished.</summary>
    public void Dispose()
    {
        _stopRegistration.Dispose();
        _runCts.Dispose();
        _asyncPullLock?.Dispose();
    }

    /// <summary>Records the first reason to stop and cancels every worker. Never throws.</summary>
    private void Stop(Exception exception)
    {
        if (Interlocked.CompareExchange(ref _stop, ExceptionDispatchInfo.Capture(exception), null) is null)
        {
            try
            {
                _runCts.Cancel();
            }
            catch (AggregateException)
            {
                // A cancellation callback of the HTTP stack failed; the run stops anyway.
            }
        }
    }

    /// <summary>The run's token was cancelled: start no more workers, and wake the consumer.</summary>
    private void OnStopped()
    {
        bool wake, finish;
        lock (_lock)
        {
            _closed = true;
            _stopped = true;
            wake = ReleaseConsumer();
            finish = ShouldFinish();
            AssertInvariants();
        }

        // Neither inline: this runs inside whoever cancelled (the caller's Cancel, a worker's Stop), and the workers
        // may all have ended inside that same Cancel, before this callback ran.
        if (wake)
        {
            SignalConsumer(inline: false);
        }

        if (finish)
        {
            // Tracked by _done, which the run awaits.
            _ = Task.Run(FinishAsync, CancellationToken.None);
        }
    }

    /// <summary>
    /// One worker: holds one slot and loops over the source until it ends or the run stops, or (FetchAsync) until its
    /// slot stays with a queued result. Never throws: a fault stops the run.
    /// </summary>
    private async Task WorkerAsync()
    {
        var token = _runCts.Token;
        var exited = false;
        try
        {
            while (true)
            {
                int index;
                PendingRequest? next;
                try
                {
                    (index, next) = await PullAsync(token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    // The run was stopped: nothing more to pull.
                    return;
                }
                catch (Exception e)
                {
                    Stop(e);
                    return;
                }

                if (next is null)
                {
                    return;
                }

                // Started before the next worker, so that requests reach their host's gate and the handler in the
                // order they were pulled (the fetch runs synchronously until its first wait).
                var fetching = FetchAndReportAsync(index, next.Value, token);
                StartWorkerIfSlotFree();
                var result = await fetching.ConfigureAwait(false);
                if (result is null)
                {
                    return;
                }

                if (_collected is not null)
                {
                    Collect(index, result);
                }
                else if (!Deliver(result))
                {
                    exited = true;
                    return;
                }
            }
        }
        finally
        {
            if (!exited)
            {
                ExitWorker();
            }
        }
    }

    /// <summary>The next request and its index, or null at the end or once the run is closed. Pulls are serialized.</summary>
    private async ValueTask<(int Index, PendingRequest? Next)> PullAsync(CancellationToken token)
    {
        if (_syncPullLock is not null)
        {
            lock (_syncPullLock)
            {
                return Volatile.Read(ref _closed) || token.IsCancellationRequested ? (0, null) : Numbered(_source.Next());
            }
        }

        await _asyncPullLock!.WaitAsync(token).ConfigureAwait(false);
        try
        {
            return Volatile.Read(ref _closed) || token.IsCancellationRequested
                ? (0, null)
                : Numbered(await _source.NextAsync(token).ConfigureAwait(false));
        }
        finally
        {
            _asyncPullLock.Release();
        }
    }

    /// <summary>Numbers a pulled request (called under the pull lock); at the end of the source, closes the run.</summary>
    private (int Index, PendingRequest? Next) Numbered(PendingRequest? next)
    {
        if (next is null)
        {
            lock (_lock)
            {
                _closed = true;
                AssertInvariants();
            }

            return (0, null);
        }

        var index = _nextIndex;
        _nextIndex = checked(index + 1);
        return (index, next);
    }

    /// <summary>
    /// Starts one more worker when a slot is free and the source may have more. It runs on this thread until its
    /// request's first wait, and starts the next one in turn, so that the run fills its slots in one pass, as a single
    /// pump would, without a thread-pool hop per worker (a hop only when the stack runs short).
    /// </summary>
    private void StartWorkerIfSlotFree()
    {
        lock (_lock)
        {
            if (_closed || _free == 0)
            {
                return;
            }

            _free--;
            _workers++;
            AssertInvariants();
        }

        if (RuntimeHelpers.TryEnsureSufficientExecutionStack())
        {
            // Never throws: a worker reports its faults by stopping the run, and _workers tracks it.
            _ = WorkerAsync();
        }
        else
        {
            StartWorker();
        }
    }

    /// <summary>A worker ends and gives its slot back; the last one after the run closed finishes it.</summary>
    private void ExitWorker()
    {
        bool finish;
        lock (_lock)
        {
            _workers--;
            _free++;
            finish = ShouldFinish();
            AssertInvariants();
        }

        if (finish)
        {
            // Tracked by _done, which the run awaits.
            _ = FinishAsync();
        }
    }

    /// <summary>Whether the caller must finish the run now (once): no worker left and none to start. Under the lock.</summary>
    private bool ShouldFinish()
    {
        if (_workers != 0 || !_closed || _finishing)
        {
            return false;
        }

        _finishing = true;
        return true;
    }

    /// <summary>Disposes the source (a failure stops the run), then marks the run finished and wakes the consumer. Never throws.</summary>
    private async Task FinishAsync()
    {
        try
        {
            await _source.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Stop(e);
        }

        bool wake;
        lock (_lock)
        {
            _finished = true;
            wake = ReleaseConsumer();
            AssertInvariants();
        }

        if (wake)
        {
            SignalConsumer(inline: false);
        }

        _done.TrySetResult();
    }

    /// <summary>FetchAll*: the result goes to its index; the worker keeps its slot for the next request.</summary>
    private void Collect(int index, FetchResult<T> result)
    {
        lock (_lock)
        {
            if (index >= _collected!.Count)
            {
                CollectionsMarshal.SetCount(_collected, index + 1);
            }

            _collected[index] = result;
        }
    }

    /// <summary>
    /// FetchAsync: hands the result to the waiting consumer (its slot is free at once, and the worker goes on: true) or
    /// queues it with the worker's slot; the worker then goes on only with a free slot, and otherwise ends (false).
    /// </summary>
    private bool Deliver(FetchResult<T> result)
    {
        bool handedOff;
        var finish = false;
        lock (_lock)
        {
            handedOff = ReleaseConsumer();
            if (handedOff)
            {
                _handoff = result;
            }
            else
            {
                _ready!.Enqueue(result);
                if (!_closed && _free > 0)
                {
                    _free--;
                    AssertInvariants();
                    return true;
                }

                _workers--;
                finish = ShouldFinish();
            }

            AssertInvariants();
        }

        if (handedOff)
        {
            // The consumer's loop runs on this thread until it waits again, as a channel with synchronous
            // continuations would run it; it took the result, so this worker's slot is free for the next request.
            SignalConsumer(inline: true);
            return true;
        }

        if (finish)
        {
            // Tracked by _done, which the run awaits.
            _ = FinishAsync();
        }

        return false;
    }

    /// <summary>FetchAsync: the next queued result (its slot goes to a new worker), or a wait to register.</summary>
    private FetchResult<T>? TryTake(out bool wait)
    {
        var start = false;
        FetchResult<T>? result;
        lock (_lock)
        {
            wait = false;
            if (_ready!.TryDequeue(out result))
            {
                if (_closed)
                {
                    _free++;
                }
                else
                {
                    _workers++;
                    start = true;
                }
            }
            else if (!_finished && !_stopped)
            {
                _consumerWait.Reset();
                _consumerWaiting = true;
                wait = true;
            }

            AssertInvariants();
        }

        if (start)
        {
            StartWorker();
        }

        return result;
    }

    /// <summary>The result a worker handed to the consumer when it woke it, or null when it was woken to stop or end.</summary>
    private FetchResult<T>? TakeHandoff()
    {
        lock (_lock)
        {
            var result = _handoff;
            _handoff = null;
            return result;
        }
    }

    /// <summary>Under the lock: whether the consumer was waiting; if so, the caller must signal it (once).</summary>
    private bool ReleaseConsumer()
    {
        if (!_consumerWaiting)
        {
            return false;
        }

        _consumerWaiting = false;
        return true;
    }

    /// <summary>Completes the consumer's wait, outside the lock; <paramref name="inline"/> runs its continuation on this thread.</summary>
    private void SignalConsumer(bool inline)
    {
        _consumerWait.RunContinuationsAsynchronously = !inline;
        _consumerWait.SetResult(true);
    }

    [Conditional("DEBUG")]
    private void AssertInvariants()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "The run's lock is held.");
        Debug.Assert(_free >= 0 && _workers >= 0, "No count is negative.");
        Debug.Assert(_free + _workers + (_ready?.Count ?? 0) == _options.MaxConcurrency, "Every slot is free, held by a worker, or held by a queued result.");
        Debug.Assert(!_finished || (_workers == 0 && _closed), "The run finishes only after its last worker ended.");
        Debug.Assert(!_consumerWaiting || (_ready!.Count == 0 && !_stopped && !_finished), "The consumer waits only for a result that may still come.");
    }

    /// <summary>Fetches one request and reports its result: null when the run stopped (or this request stopped it). Never throws.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FetchResult<T>?> FetchAndReportAsync(int index, PendingRequest request, CancellationToken token)
    {
        try
        {
            var result = await FetchOneAsync(index, request, token).ConfigureAwait(false);
            try
            {
                FetchMetrics.Record(result);
            }
            catch (Exception)
            {
                // A MeterListener's callback threw: the request still gets its result.
            }

            if (!result.IsSuccess && _options.FailFast)
            {
                Stop(new FetchFailedException(result.Index, result.Uri, result.StatusCode, result.Error));
                return null;
            }

            return result;
        }
        catch (Exception) when (token.IsCancellationRequested)
        {
            // The run was stopped (caller's cancellation, early break, fail-fast): no result for this request.
            return null;
        }
        catch (Exception e)
        {
            Stop(e);
            return null;
        }
        finally
        {
            request.Message?.Dispose();
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FetchResult<T>> FetchOneAsync(int index, PendingRequest request, CancellationToken token)
    {
        var time = _options.TimeProvider;
        var started = time.GetTimestamp();
        HostGate? hostGate = null;
        if (_hostGates is not null)
        {
            hostGate = EnterHost(request.Uri);
            try
            {
                await hostGate.Semaphore.WaitAsync(token).ConfigureAwait(false);
            }
            catch
            {
                LeaveHost(hostGate, entered: false);
                throw;
            }
        }

        using var attempts = new AttemptTracker(_client, _options, request);
        HttpResponseMessage? response = null;
        try
        {
            response = _options.ResiliencePipeline is { } pipeline
                ? await pipeline.ExecuteAsync(static (tracker, ct) => tracker.SendAsync(ct), attempts, token).ConfigureAwait(false)
                : await attempts.SendAsync(token).ConfigureAwait(false);

            if (!response.IsSuccessStatusCode)
            {
                return Failure(FetchErrorKind.HttpStatus, $"'{UriRedaction.Redact(request.Uri)}' answered {(int)response.StatusCode} ({response.ReasonPhrase}).", null);
            }

            if (response.Content.Headers.ContentLength is { } declared && declared > _options.MaxResponseBytes)
            {
                return Failure(FetchErrorKind.TooLarge, $"'{UriRedaction.Redact(request.Uri)}' declared a body of {declared} bytes, over the limit of {_options.MaxResponseBytes}.", null);
            }

            var bodyToken = attempts.TokenFor(response, token);
            var stream = await response.Content.ReadAsStreamAsync(bodyToken).ConfigureAwait(false);
            T? value;
            await using (stream.ConfigureAwait(false))
            {
                value = await _reader.ReadAsync(response, new LimitedReadStream(stream, _options.MaxResponseBytes), bodyToken).ConfigureAwait(false);
            }

            return new FetchResult<T>(index, request.Uri, response.StatusCode, value, null, attempts.Count, time.GetElapsedTime(started));
        }
        catch (Exception e) when (!token.IsCancellationRequested)
        {
            // Whatever one request throws is its result; only the run's own stop (cancellation, fail-fast, a source
            // fault) passes through, to end the run.
            var kind = Classify(e, attempts.TimedOut(response));
            return Failure(kind, $"Fetching '{UriRedaction.Redact(request.Uri)}' failed: {e.Message}", kind is FetchErrorKind.TooLarge ? null : e);
        }
        finally
        {
            if (hostGate is not null)
            {
                LeaveHost(hostGate, entered: true);
            }
        }

        FetchResult<T> Failure(FetchErrorKind kind, string message, Exception? exception) =>
            new(index, request.Uri, attempts.LastStatusCode, default, new FetchError(kind, message, exception), attempts.Count, time.GetElapsedTime(started));
    }

    /// <summary>The host's gate, created on its first request; counts the request as a user of it.</summary>
    private HostGate EnterHost(Uri uri)
    {
        var key = HostKey.Of(uri);
        lock (_hostGates!)
        {
            if (!_hostGates.TryGetValue(key, out var gate))
            {
                var perHost = _options.MaxConcurrencyPerHost!.Value;
                gate = new HostGate(key, new SemaphoreSlim(perHost, perHost));
                _hostGates.Add(key, gate);
            }

            gate.Users++;
            return gate;
        }
    }

    /// <summary>Gives the host's slot back (when it was entered) and drops the gate with its last user.</summary>
    private void LeaveHost(HostGate gate, bool entered)
    {
        if (entered)
        {
            gate.Semaphore.Release();
        }

        lock (_hostGates!)
        {
            if (--gate.Users == 0)
            {
                // No request holds or waits for it: nothing else references the semaphore (no wait handle was made).
                _hostGates.Remove(gate.Key);
            }
        }
    }

    /// <summary>The kind of a failure of one request.</summary>
    private static FetchErrorKind Classify(Exception exception, bool bodyTimedOut) => exception switch
    {
        ResponseTooLargeException => FetchErrorKind.TooLarge,
        RateLimitRejectedException => FetchErrorKind.RateLimited,
        TimeoutException or TimeoutRejectedException => FetchErrorKind.Timeout,
        _ when bodyTimedOut => FetchErrorKind.Timeout,

        // HttpClient.Timeout: a TaskCanceledException wrapping a TimeoutException.
        OperationCanceledException { InnerException: TimeoutException } => FetchErrorKind.Timeout,
        ExecutionRejectedException => FetchErrorKind.Rejected,
        JsonException => FetchErrorKind.InvalidContent,
        HttpRequestException or IOException => FetchErrorKind.Network,
        _ => FetchErrorKind.Unexpected,
    };

    /// <summary>The bound of one host while it has requests; <see cref="Users"/> is guarded by the run's gate table.</summary>
    private sealed class HostGate(HostKey key, SemaphoreSlim semaphore)
    {
        public HostKey Key { get; } = key;

        public SemaphoreSlim Semaphore { get; } = semaphore;

        public int Users { get; set; }
    }
}

/// <summary>
/// What <see cref="FetchOptions.MaxConcurrencyPerHost"/> keys on: scheme, host in ASCII (IDN) form without a trailing
/// dot, and port; never user info. <see cref="Uri"/> already lowercases the scheme and host of http(s) URIs and fills
/// in the default port.
/// </summary>
internal readonly record struct HostKey(string Scheme, string Host, int Port)
{
    public static HostKey Of(Uri uri)
    {
        var host = uri.IdnHost;
        if (host.EndsWith('.'))
        {
            host = host.TrimEnd('.');
        }

        return new HostKey(uri.Scheme, host, uri.Port);
    }

    public bool Equals(HostKey other) =>
        Port == other.Port
        && string.Equals(Scheme, other.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(Host, other.Host, StringComparison.OrdinalIgnoreCase);

    public override int GetHashCode() =>
        HashCode.Combine(StringComparer.OrdinalIgnoreCase.GetHashCode(Scheme), StringComparer.OrdinalIgnoreCase.GetHashCode(Host), Port);
}
