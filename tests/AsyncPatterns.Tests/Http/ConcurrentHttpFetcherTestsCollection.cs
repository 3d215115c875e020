namespace AsyncPatterns.Tests.Http;

/// <summary>
/// The fetcher's fake-clock steps wait for work hopping through the thread pool; sharing the pool with tests running
/// in parallel makes those hops slow enough to interleave with the steps, so <see cref="ConcurrentHttpFetcherTests"/> runs alone.
/// </summary>
[CollectionDefinition(nameof(ConcurrentHttpFetcherTests), DisableParallelization = true)]
public sealed class ConcurrentHttpFetcherTestsCollection;
