using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using AsyncPatterns.Http;
using AsyncPatterns.TestSupport;
using BenchmarkDotNet.Attributes;

namespace AsyncPatterns.Benchmarks;

/// <summary>
/// 2,000 GETs of a small JSON document at concurrency 32 against the loopback Kestrel server in the same process:
/// <see cref="ConcurrentHttpFetcher.FetchAllAsync{T}(IEnumerable{Uri}, System.Text.Json.Serialization.Metadata.JsonTypeInfo{T}, CancellationToken)"/>
/// against the hand-written <c>Parallel.ForEachAsync</c> + <c>GetFromJsonAsync</c> loop collecting into an array.
/// </summary>
[MemoryDiagnoser]
public class HttpFetcherBenchmarks
{
    private const int Requests = 2_000;
    private const int Concurrency = 32;

    private LoopbackServer _server = null!;
    private HttpClient _client = null!;
    private Uri[] _uris = null!;
    private ConcurrentHttpFetcher _fetcher = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _server = await LoopbackServer.StartAsync();
        _client = new HttpClient();
        _uris = [.. Enumerable.Range(0, Requests).Select(i => _server.Url($"items/{i % _server.ItemCount + 1}"))];
        _fetcher = new ConcurrentHttpFetcher(_client, new FetchOptions { MaxConcurrency = Concurrency });
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Requests)]
    public async Task<ServerItem?[]> ParallelForEachGetFromJson()
    {
        var results = new ServerItem?[Requests];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, Requests),
            new ParallelOptions { MaxDegreeOfParallelism = Concurrency },
            async (i, ct) => results[i] = await _client.GetFromJsonAsync(_uris[i], BenchmarkJson.Default.ServerItem, ct));
        return results;
    }

    [Benchmark(OperationsPerInvoke = Requests)]
    public Task<IReadOnlyList<FetchResult<ServerItem>>> FetchAllAsync() =>
        _fetcher.FetchAllAsync(_uris, BenchmarkJson.Default.ServerItem);
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ServerItem))]
internal sealed partial class BenchmarkJson : JsonSerializerContext;
