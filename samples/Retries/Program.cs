// In Python's asyncio, retries with exponential backoff:
//
//   async def retry_with_backoff(func, max_retries=3, base_delay=1.0):
//       for attempt in range(max_retries):
//           try:
//               return await func()
//           except Exception as e:
//               if attempt == max_retries - 1:
//                   raise
//               delay = base_delay * (2 ** attempt)
//               print(f"Attempt {attempt + 1} failed: {e}. Retrying in {delay}s...")
//               await asyncio.sleep(delay)
//
//   async def unreliable_api_call():          # fails 70% of the time
//       ...
//   result = await retry_with_backoff(unreliable_api_call, max_retries=5)
//
// In C#, Retry.ExecuteAsync runs the call under a Polly retry pipeline built from RetryOptions. MaxRetries counts the
// retries after the first call, so the Python version's 5 attempts are MaxRetries = 4; UseJitter = false gives exactly
// base * 2^attempt. When every attempt fails, the last exception propagates with the attempt count in its Data.
// (For HttpClient, HttpRetry.CreatePipeline also retries 429/5xx responses and honours Retry-After.)
// The unreliable API is the demo API on 127.0.0.1 with a failure rate (seeded, so every run is the same).
//   dotnet run --project samples/Retries   (about 2 s)
using System.Net.Http.Json;
using AsyncPatterns.Retries;
using AsyncPatterns.Samples.DemoApi;

// The first retry waits BaseDelay, each later one twice as long as the one before. 200 ms keeps the sample quick;
// against a real remote API a base of about 1 s (the Python version's base_delay=1.0) is the usual starting point.
var baseDelay = TimeSpan.FromMilliseconds(200);

// 1. An API that fails 70% of the time: retry up to 5 attempts, and it answers in the end.
Console.WriteLine("1. An API that fails 70% of the time, up to 5 attempts");
await using (var server = await DemoApiServer.StartAsync(new DemoApiOptions { FailureRate = 0.7 }))
{
    var item = await RetryWithBackoffAsync(server, maxAttempts: 5);
    Console.WriteLine($"   got item {item.Id} ({item.Name}) after {server.Requests} attempts; the API failed {server.Stats.Failures} of them");
}

// 2. An API that always fails: the attempts run out, and the last exception propagates unchanged.
Console.WriteLine();
Console.WriteLine("2. An API that always fails: the attempts run out and the last error surfaces");
await using (var server = await DemoApiServer.StartAsync(new DemoApiOptions { FailureRate = 1.0 }))
{
    try
    {
        await RetryWithBackoffAsync(server, maxAttempts: 3);
    }
    catch (HttpRequestException e)
    {
        Console.WriteLine($"   gave up after {e.Data[Retry.AttemptCountDataKey]} attempts ({server.Requests} requests reached the API): {e.Message}");
    }
}

// The .NET form of Python's retry_with_backoff around one unreliable call, GET /items/1.
async Task<ItemDetails> RetryWithBackoffAsync(DemoApiServer server, int maxAttempts)
{
    using var http = new HttpClient { BaseAddress = server.BaseAddress };
    var options = new RetryOptions
    {
        MaxRetries = maxAttempts - 1,
        BaseDelay = baseDelay,
        BackoffType = Polly.DelayBackoffType.Exponential,
        UseJitter = false, // exactly base * 2^attempt; keep jitter on in production, so that many clients do not retry in step
        OnRetry = attempt => Console.WriteLine(
            $"   Attempt {attempt.AttemptNumber} failed: {attempt.Exception?.Message} Retrying in {attempt.Delay.TotalSeconds:0.###}s..."),
    };

    return await Retry.ExecuteAsync(
        async cancellationToken => (await http.GetFromJsonAsync("items/1", DemoApiJsonContext.Default.ItemDetails, cancellationToken))!,
        options);
}
