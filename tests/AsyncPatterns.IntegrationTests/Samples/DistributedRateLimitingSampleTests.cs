namespace AsyncPatterns.IntegrationTests.Samples;

/// <summary>
/// samples/DistributedRateLimiting: three worker processes against a server that serves 4 requests at once, with one
/// RedisRateLimiter shared through the Redis of ASYNCPATTERNS_REDIS (.ci/redis.sh).
/// </summary>
[Collection(SamplesCollection.Name)]
public sealed class DistributedRateLimitingSampleTests
{
    private const int Requests = 3 * 40;

    [Fact]
    public async Task Run_SharedRedisLimiter_EveryRequestAcceptedWithZeroRejections()
    {
        var redis = Environment.GetEnvironmentVariable("ASYNCPATTERNS_REDIS");
        Assert.SkipWhen(string.IsNullOrEmpty(redis), "ASYNCPATTERNS_REDIS is not set: `source .ci/redis.sh` starts a redis-server and sets it.");

        var run = await SampleProcess.RunAsync("DistributedRateLimiting", new Dictionary<string, string?> { ["ASYNCPATTERNS_REDIS"] = redis });

        using var scope = run.Scope();
        run.ExitCode.Should().Be(0);
        run.Line($"^Redis at {System.Text.RegularExpressions.Regex.Escape(redis!)}$");
        var local = run.Line(@"^in-process limiter per worker +(?<accepted>\d+) +(?<rejected>\d+) +[\d.]+s$");
        (SampleRun.Int(local, "accepted") + SampleRun.Int(local, "rejected")).Should().Be(Requests, "each request is either served or rejected with 503");
        var shared = run.Line(@"^one RedisRateLimiter shared by all +(?<accepted>\d+) +(?<rejected>\d+) +[\d.]+s$");
        SampleRun.Int(shared, "rejected").Should().Be(0, "the shared limiter keeps every request within the server's cap");
        SampleRun.Int(shared, "accepted").Should().Be(Requests);
        run.Matches(@"^   worker \d+: 40 accepted, 0 rejected$").Should().HaveCount(3, "every worker of the shared phase got all its requests through");
    }
}
