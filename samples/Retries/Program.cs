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
//   dotnet run --project samples/Retries            (about 6 s)
//   dotnet run --project samples/Retries -- --smoke (under a second)
using System.Net.Http.Json;
using AsyncPatterns.Retries;
using AsyncPatterns.Samples.DemoApi;

if (args.Any(arg => arg != "--smoke"))
{
    Console.Error.WriteLine("usage: Retries [--smoke]");
    return 2;
}

var smoke = args.Contains("--smoke");
var baseDelay = TimeSpan.FromMilliseconds(smoke ? 20 : 1000);
var ok = true;

Console.WriteLine("1. An API that fails 70% of the time, up to 5 attempts");
await using (var server = await DemoApiServer.StartAsync(new DemoApiOptions { FailureRate = 0.7 }))
{
    var delays = new List<TimeSpan>();
    var item = await RetryWithBackoffAsync(server, maxAttempts: 5, delays);
    Console.WriteLine($"   got item {item.Id} ({item.Name}) after {server.Requests} attempts");
    ok &= Check(item.Id == 1, "the call succeeded in the end");
    ok &= Check(server.Requests == server.Stats.Failures + 1, "one attempt per failure, plus the one that succeeded");
    ok &= Check(delays.Select((delay, n) => delay == baseDelay * Math.Pow(2, n)).All(exact => exact), "the delays doubled: base * 2^attempt");
}

Console.WriteLine();
Console.WriteLine("2. An API that always fails: the attempts run out and the last error surfaces");
await using (var server = await DemoApiServer.StartAsync(new DemoApiOptions { FailureRate = 1.0 }))
{
    try
    {
        await RetryWithBackoffAsync(server, maxAttempts: 3, delays: []);
        ok &= Check(false, "the last failure surfaced");
    }
    catch (HttpRequestException e)
    {
        var attempts = e.Data[Retry.AttemptCountDataKey];
        Console.WriteLine($"   gave up after {attempts} attempts: {e.Message}");
        ok &= Check(attempts is 3 && server.Requests == 3, "3 attempts, then the last exception, unchanged");
    }
}

Console.WriteLine();
Console.WriteLine(ok ? "Retries: OK" : "Retries: FAILED");
return ok ? 0 : 1;

// The .NET form of Python's retry_with_backoff around one unreliable call, GET /items/1.
async Task<ItemDetails> RetryWithBackoffAsync(DemoApiServer server, int maxAttempts, List<TimeSpan> delays)
{
    using var http = new HttpClient { BaseAddress = server.BaseAddress };
    var options = new RetryOptions
    {
        MaxRetries = maxAttempts - 1,
        BaseDelay = baseDelay,
        BackoffType = Polly.DelayBackoffType.Exponential,
        UseJitter = false,
        OnRetry = attempt =>
        {
            delays.Add(attempt.Delay);
            Console.WriteLine($"   Attempt {attempt.AttemptNumber} failed: {attempt.Exception?.Message} Retrying in {attempt.Delay.TotalSeconds:0.###}s...");
        },
    };

    return await Retry.ExecuteAsync(
        async cancellationToken => (await http.GetFromJsonAsync("items/1", DemoApiJsonContext.Default.ItemDetails, cancellationToken))!,
        options);
}

static bool Check(bool condition, string expectation)
{
    Console.WriteLine($"   {(condition ? "ok" : "NOT OK")}: {expectation}");
    return condition;
}
