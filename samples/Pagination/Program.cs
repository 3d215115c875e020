// In Python's asyncio, an async generator over a paginated API and an async iterator over a database cursor:
//
//   async def fetch_paginated_data(page_size=100):
//       page = 1
//       while True:
//           data = await fetch_page(page, page_size)
//           if not data:
//               break
//           for item in data:
//               yield item
//           page += 1
//
//   async for item in fetch_paginated_data(page_size=50):
//       await process_item(item)
//
//   class AsyncCursor:                       # __anext__ fetches the next batch of 100 rows, StopAsyncIteration at the end
//       ...
//   async for batch in AsyncCursor("SELECT * FROM large_table"):
//       for row in batch:
//           await process_row(row)
//
// In C#, Paginator.FromPageNumber is the generator (it stops after a short or empty page) and `await foreach` the
// `async for`; AsyncCursor.ReadBatches streams a DbCommand's rows in batches. Pages are fetched one at a time, only
// when the loop reaches them, so the whole result is never in memory.
//   dotnet run --project samples/Pagination   (under a second)
using System.Net.Http.Json;
using AsyncPatterns.Pagination;
using AsyncPatterns.Samples.DemoApi;
using Microsoft.Data.Sqlite;

const int PageSize = 50;
const int ItemCount = 3 * PageSize; // three pages, as in the Python version

await using var server = await DemoApiServer.StartAsync(new DemoApiOptions
{
    ItemCount = ItemCount,
    Latency = TimeSpan.FromMilliseconds(20), // per page; the Python version sleeps 0.1 s
});
using var http = new HttpClient { BaseAddress = server.BaseAddress };
var processed = 0;

// fetch_paginated_data: GET /items?page=P&pageSize=S, until a page shorter than S (here the empty fourth one).
var items = Paginator.FromPageNumber<ItemSummary>(
    async (page, size, cancellationToken) =>
    {
        Console.WriteLine($"   GET items?page={page}&pageSize={size}   ({processed} items processed so far)");
        return (await http.GetFromJsonAsync($"items?page={page}&pageSize={size}", DemoApiJsonContext.Default.IReadOnlyListItemSummary, cancellationToken))!;
    },
    pageSize: PageSize);

// 1. async for item in fetch_paginated_data(): every item, each page requested only when the loop reaches it.
Console.WriteLine($"1. Every item of a paginated API, {PageSize} per page, each page requested only when the loop needs it");
var ids = new List<int>();
await foreach (var item in items)
{
    ids.Add(item.Id); // process_item
    processed++;
}

Console.WriteLine($"   processed {ids.Count} items, ids {Runs(ids)}, with {server.Requests} requests");

// 2. Leaving the loop early disposes the enumerator: the pages after it are never requested.
Console.WriteLine();
Console.WriteLine("2. Leaving the loop early: the pages after it are never requested");
server.ResetCounters();
processed = 0;
await foreach (var item in items)
{
    if (++processed == PageSize + 10)
    {
        break;
    }
}

Console.WriteLine($"   stopped after {processed} items, {server.Requests} requests");

// 3. AsyncCursor: a query's rows in batches, read through one open data reader.
Console.WriteLine();
Console.WriteLine("3. AsyncCursor: SELECT * FROM large_table in batches of 100, through one open data reader");
await using var connection = new SqliteConnection("Data Source=:memory:");
await connection.OpenAsync();
await using (var create = connection.CreateCommand())
{
    create.CommandText = """
        CREATE TABLE large_table (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        INSERT INTO large_table (id, name)
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
            SELECT i, 'row ' || i FROM n;
        """;
    await create.ExecuteNonQueryAsync();
}

await using var query = connection.CreateCommand();
query.CommandText = "SELECT id, name FROM large_table ORDER BY id";
var batches = 0;
await foreach (var batch in AsyncCursor.ReadBatches(query, reader => (Id: reader.GetInt64(0), Name: reader.GetString(1)), batchSize: 100))
{
    batches++;
    Console.WriteLine($"   batch {batches}: {batch.Count} rows, ids {batch[0].Id} to {batch[^1].Id}"); // for row in batch: process_row(row)
}

// The ids as runs of consecutive values in the order they came, "1-150" when every item came once and in order.
static string Runs(List<int> ids)
{
    var runs = new List<string>();
    for (var start = 0; start < ids.Count;)
    {
        var end = start;
        while (end + 1 < ids.Count && ids[end + 1] == ids[end] + 1)
        {
            end++;
        }

        runs.Add(end == start ? $"{ids[start]}" : $"{ids[start]}-{ids[end]}");
        start = end + 1;
    }

    return string.Join(", ", runs);
}
