using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Threading.Channels;
using AsyncPatterns.Internal;
using AsyncPatterns.RateLimiting;
using Polly;
using Polly.Timeout;

namespace AsyncPatterns.Http.Internal;

/// <summary>
/// One fetch: a pump pulls the source only when one of <see cref="FetchOptions.MaxConcurrency"/> slots is free and
/// starts a worker per request; workers write their results to a channel in completion order; the consumer frees the
/// slot of each result it takes. Whatever ends the run (the end, the caller's cancellation, an early break, a fail-fast
/// failure, a fault) cancels every worker and waits for all of them and the pump before the enumerator finishes.
/// </summary>
internal sealed class FetchRun<T> : IDisposable
{
    private readonly HttpClient _client;
    private readonly FetchOptions _options;
    private readonly IResponseReader<T> _reader;
    private readonly FetchSource _source;
    private readonly CancellationTokenSource _runCts;
    private readonly SemaphoreSlim _slots;
    private readonly Channel<FetchResult<T>> _results;
    private readonly Dictionary<HostKey, HostGate>? _hostGates;
    private readonly TaskCompletionSource _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ExceptionDispatchInfo? _stop;

    // The pump counts as 1 until the source is exhausted; each worker adds 1 while it runs.
    private int _active = 1;

    private FetchRun(HttpClient client, FetchOptions options, IResponseReader<T> reader, FetchSource source, CancellationToken cancellationToken)
    {
        _client = client;
        _options = options;
        _reader = reader;
        _source = source;
        _runCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _slots = new SemaphoreSlim(options.MaxConcurrency, options.MaxConcurrency);
        _results = Channel.CreateUnbounded<FetchResult<T>>(new UnboundedChannelOptions { SingleReader = true });
        if (options.MaxConcurrencyPerHost is not null)
        {
            _hostGates = [];
        }
    }

    public static async IAsyncEnumerable<FetchResult<T>> RunAsync(
        HttpClient client,
        FetchOptions options,
        IResponseReader<T> reader,
        FetchSource source,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Each enumeration is its own pass over the source, with its own slots.
        var run = new FetchRun<T>(client, options, reader, source.Open(), cancellationToken);
        var pump = Task.Run(run.PumpAsync, CancellationToken.None);
        try
        {
            var results = run._results.Reader;
            while (await results.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (results.TryRead(out var result))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    run._stop?.Throw();
                    run._slots.Release();
                    yield return result;
                }
            }

            await pump.ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            run._stop?.Throw();
        }
        finally
        {
            await run._runCts.CancelAsync().ConfigureAwait(false);
            await pump.ConfigureAwait(false);
            run.Dispose();
        }
    }

    /// <summary>The <c>FetchAll*</c> form: every result of <see cref="RunAsync"/>, at its input index.</summary>
    public static async Task<IReadOnlyList<FetchResult<T>>> CollectAsync(
        HttpClient client,
        FetchOptions options,
        IResponseReader<T> reader,
        FetchSource source,
        CancellationToken cancellationToken)
    {
        var list = new List<FetchResult<T>>();
        await foreach (var result in RunAsync(client, options, reader, source, cancellationToken).ConfigureAwait(false))
        {
            if (result.Index >= list.Count)
            {
                CollectionsMarshal.SetCount(list, result.Index + 1);
            }

            list[result.Index] = result;
        }

        return list.AsReadOnly();
    }

    public void Dispose()
    {
        _runCts.Dispose();
        _slots.Dispose();
    }

    /// <summary>Records the first reason to stop, cancels every worker and wakes the consumer. Never throws.</summary>
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

            _results.Writer.TryComplete();
        }
    }

    /// <summary>Pulls the source one request per free slot. Never throws: a source failure stops the run.</summary>
    private async Task PumpAsync()
    {
        var token = _runCts.Token;
        try
        {
            var index = 0;
            while (true)
            {
                await _slots.WaitAsync(token).ConfigureAwait(false);
                var next = await _source.NextAsync(token).ConfigureAwait(false);
                if (next is null)
                {
                    break;
                }

                Interlocked.Increment(ref _active);

                // Tracked by _active: the pump waits for every worker (_idle) before it completes.
                _ = RunWorkerAsync(index, next, token);
                index = checked(index + 1);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The run was stopped: nothing more to pull.
        }
        catch (Exception e)
        {
            Stop(e);
        }

        try
        {
            await _source.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Stop(e);
        }

        if (Interlocked.Decrement(ref _active) != 0)
        {
            await _idle.Task.ConfigureAwait(false);
        }

        _results.Writer.TryComplete();
    }

    /// <summary>Fetches one request and writes its result. Never throws: a fault stops the run.</summary>
    private async Task RunWorkerAsync(int index, PendingRequest request, CancellationToken token)
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
            }
            else
            {
                _results.Writer.TryWrite(result);
            }
        }
        catch (Exception) when (token.IsCancellationRequested)
        {
            // The run was stopped (caller's cancellation, early break, fail-fast): no result for this request.
        }
        catch (Exception e)
        {
            Stop(e);
        }
        finally
        {
            request.Message?.Dispose();
            if (Interlocked.Decrement(ref _active) == 0)
            {
                _idle.TrySetResult();
            }
        }
    }

    private async Task<FetchResult<T>> FetchOneAsync(int index, PendingRequest request, CancellationToken token)
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
