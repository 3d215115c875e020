using AsyncPatterns.Retries;
using BenchmarkDotNet.Attributes;
using Polly;
using Polly.Retry;

namespace AsyncPatterns.Benchmarks;

/// <summary>
/// The success path (the first attempt succeeds) of <see cref="Retry.ExecuteAsync{T}"/> against a bare Polly
/// pipeline with the same retry strategy (3 retries, 1 s exponential backoff with jitter), both awaited from a
/// <see cref="Task{TResult}"/>-returning method.
/// </summary>
public class RetryBenchmarks
{
    private static readonly Task<int> s_completed = Task.FromResult(42);
    private static readonly Func<CancellationToken, Task<int>> s_operation = static _ => s_completed;

    private readonly RetryOptions _options = new();
    private ResiliencePipeline _polly = ResiliencePipeline.Empty;

    [GlobalSetup]
    public void Setup()
    {
        _polly = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = 3,
                Delay = TimeSpan.FromSeconds(1),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = static args => new ValueTask<bool>(args.Outcome.Exception is not null && !args.Context.CancellationToken.IsCancellationRequested),
            })
            .Build();
        _ = _options.CreatePipeline();
    }

    [Benchmark(Baseline = true)]
    public async Task<int> BarePolly() =>
        await _polly.ExecuteAsync(static (op, ct) => new ValueTask<int>(op(ct)), s_operation, CancellationToken.None);

    [Benchmark]
    public Task<int> RetryExecuteAsync() => Retry.ExecuteAsync(s_operation, _options);
}
