namespace AsyncPatterns.IntegrationTests.Samples;

/// <summary>
/// The tests that run the samples as child processes. They run one at a time, after the parallel tests, so that the
/// samples that measure (rates, concurrency, a heartbeat) are not measuring each other.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SamplesCollection
{
    public const string Name = "Samples";
}
