using System.Runtime.CompilerServices;
using AsyncPatterns.Pagination;
using BenchmarkDotNet.Attributes;

namespace AsyncPatterns.Benchmarks.Pagination;

/// <summary>
/// Per-item overhead of <see cref="Paginator{T}"/> against a hand-written <c>async IAsyncEnumerable</c> loop over the
/// same pages: 1,000,000 items from a generated source in pages of 1,000 (one page buffer reused, so the allocated
/// column is the paginator's own cost, and shows that no list of all items is built).
/// </summary>
[MemoryDiagnoser]
public class PaginationBenchmarks
{
    private const int ItemCount = 1_000_000;
    private const int PageSize = 1_000;
    private readonly int[] _buffer = new int[PageSize];
    private Func<long, int, CancellationToken, Task<IReadOnlyList<int>>> _fetch = null!;
    private Paginator<int> _paginator = null!;

    [GlobalSetup]
    public void Setup()
    {
        _fetch = (offset, limit, _) =>
        {
            var count = (int)Math.Min(limit, ItemCount - offset);
            for (var i = 0; i < count; i++)
            {
                _buffer[i] = (int)offset + i;
            }

            return Task.FromResult<IReadOnlyList<int>>(new ArraySegment<int>(_buffer, 0, count));
        };
        _paginator = Paginator.FromOffset(_fetch, PageSize);
    }

    [Benchmark(Baseline = true)]
    public async Task<long> HandWrittenLoop()
    {
        long sum = 0;
        await foreach (var item in HandWritten(CancellationToken.None))
        {
            sum += item;
        }

        return sum;
    }

    [Benchmark]
    public async Task<long> Paginator_Offset()
    {
        long sum = 0;
        await foreach (var item in _paginator)
        {
            sum += item;
        }

        return sum;
    }

    private async IAsyncEnumerable<int> HandWritten([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        long offset = 0;
        while (true)
        {
            var page = await _fetch(offset, PageSize, cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < page.Count; i++)
            {
                yield return page[i];
            }

            if (page.Count < PageSize)
            {
                yield break;
            }

            offset += page.Count;
        }
    }
}

/// <summary>
/// Prefetch against the N·max(L, P) + min(L, P) bound: 100 pages, a simulated page latency L = 5 ms and a processing
/// time P = 5 ms per page (both real delays). Without prefetch N·(L + P) ≈ 1,000 ms; with it ≈ 505 ms.
/// </summary>
[MemoryDiagnoser]
public class PaginationPrefetchBenchmarks
{
    private const int Pages = 100;
    private static readonly TimeSpan s_latency = TimeSpan.FromMilliseconds(5);
    private static readonly TimeSpan s_processing = TimeSpan.FromMilliseconds(5);
    private static readonly int[] s_page = new int[10];

    private static async Task<Page<int>> FetchAsync(string? token, int? hint, CancellationToken cancellationToken)
    {
        await Task.Delay(s_latency, cancellationToken).ConfigureAwait(false);
        var index = token is null ? 0 : int.Parse(token, System.Globalization.CultureInfo.InvariantCulture);
        return new Page<int>(s_page, index + 1 < Pages ? (index + 1).ToString(System.Globalization.CultureInfo.InvariantCulture) : null);
    }

    private static async Task ConsumeAsync(Paginator<int> paginator)
    {
        await foreach (var page in paginator.AsPages())
        {
            await Task.Delay(s_processing).ConfigureAwait(false);
        }
    }

    [Benchmark(Baseline = true)]
    public Task Prefetch0() => ConsumeAsync(Paginator.FromCursor<int>(FetchAsync));

    [Benchmark]
    public Task Prefetch1() => ConsumeAsync(Paginator.FromCursor<int>(FetchAsync).WithPrefetch(1));

    [Benchmark]
    public Task Prefetch2() => ConsumeAsync(Paginator.FromCursor<int>(FetchAsync).WithPrefetch(2));
}
