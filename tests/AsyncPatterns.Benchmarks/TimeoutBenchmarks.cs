using AsyncPatterns.Timeouts;
using BenchmarkDotNet.Attributes;

namespace AsyncPatterns.Benchmarks;

/// <summary>
/// <see cref="OperationTimeout.RunAsync{T}(Func{CancellationToken, Task{T}}, TimeSpan, TimeProvider?, CancellationToken)"/>
/// against the hand-written linked <see cref="CancellationTokenSource"/> + <see cref="CancellationTokenSource.CancelAfter(TimeSpan)"/>,
/// for an operation that completes before its timeout, with a cancellable caller token.
/// </summary>
public class TimeoutBenchmarks
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);
    private static readonly Task<int> s_completed = Task.FromResult(42);
    private static readonly Func<CancellationToken, Task<int>> s_operation = static _ => s_completed;

    private readonly CancellationTokenSource _caller = new();

    [GlobalCleanup]
    public void Cleanup() => _caller.Dispose();

    [Benchmark(Baseline = true)]
    public async Task<int> LinkedCancelAfter()
    {
        var cancellationToken = _caller.Token;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(s_timeout);
        try
        {
            return await s_operation(cts.Token);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException("timed out", ex);
        }
    }

    [Benchmark]
    public Task<int> OperationTimeoutRunAsync() =>
        OperationTimeout.RunAsync(s_operation, s_timeout, cancellationToken: _caller.Token);
}
