using System.IO.Compression;
using System.Net;
using System.Reflection;
using System.Threading.RateLimiting;
using System.Xml.Linq;
using AsyncPatterns;
using AsyncPatterns.BackgroundTasks;
using AsyncPatterns.Connections;
using AsyncPatterns.Http;
using AsyncPatterns.Pagination;
using AsyncPatterns.Redis;
using AsyncPatterns.RateLimiting;
using AsyncPatterns.Retries;
using AsyncPatterns.TaskGroups;
using AsyncPatterns.Timeouts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Polly;
using StackExchange.Redis;

// Runs against the packed AsyncPatterns package, restored from artifacts/packages like any application would.
// Usage: dotnet run -- <path of AsyncPatterns.<version>.nupkg>
// Each check prints one line; the process exits non-zero when any fails.
var version = Environment.GetEnvironmentVariable("ASYNCPATTERNS_VERSION") ?? "0.1.0";
var packagePath = args.Length > 0 ? args[0] : Path.Combine("artifacts", "packages", $"AsyncPatterns.{version}.nupkg");
var assembly = typeof(AsyncPatternsException).Assembly;
// AsyncPatterns.Redis is packed beside AsyncPatterns, with the same version.
var redisPackagePath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(packagePath))!, $"AsyncPatterns.Redis.{version}.nupkg");
var redisConnection = Environment.GetEnvironmentVariable("ASYNCPATTERNS_REDIS");

var checks = new List<(string Name, Func<Task<bool>> Check)>
{
    ("the assembly loaded is the packed version", () => Task.FromResult(
        assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.StartsWith(version, StringComparison.Ordinal) == true)),
    ("the package holds the net10.0 assembly, its XML docs and the README", () => Task.FromResult(PackageHas(
        "lib/net10.0/AsyncPatterns.dll", "lib/net10.0/AsyncPatterns.xml", "package-readme.md"))),
    ("the nuspec declares the MIT license expression and the README", () => Task.FromResult(NuspecDeclaresLicenseAndReadme())),
    ("the symbols package sits beside the package", () => Task.FromResult(File.Exists(Path.ChangeExtension(packagePath, ".snupkg")))),
    ("the exception base type is usable", () => Task.FromResult(
        new AsyncPatternsException("x", new InvalidOperationException()).InnerException is InvalidOperationException)),
    ("Timeouts: a slow operation times out", async () =>
        (await OperationTimeout.TryRunAsync(
            async ct =>
            {
                await Task.Delay(Timeout.Infinite, ct);
                return 1;
            },
            TimeSpan.FromMilliseconds(20))).TimedOut),
    ("Retries: a flaky operation succeeds on its third attempt", async () =>
    {
        var calls = 0;
        var value = await Retry.ExecuteAsync(
            _ => ++calls < 3 ? throw new IOException("flaky") : Task.FromResult(calls),
            new RetryOptions { MaxRetries = 3, BaseDelay = TimeSpan.FromMilliseconds(1) });
        return value == 3;
    }),
    ("RateLimiting: a concurrency permit is held for the lease's lifetime", async () =>
    {
        using var limiter = new RequestRateLimiter(new RequestRateLimiterOptions { MaxConcurrency = 1 });
        using (var lease = await limiter.AcquireAsync())
        {
            using var second = limiter.AttemptAcquire();
            if (!lease.IsAcquired || second.IsAcquired)
            {
                return false;
            }
        }

        using var third = limiter.AttemptAcquire();
        return third.IsAcquired;
    }),
    ("TaskGroups: a failing child cancels its sibling and is reported", async () =>
    {
        try
        {
            await TaskGroup.RunAsync(group =>
            {
                _ = group.Run(ct => Task.Delay(Timeout.Infinite, ct), "sibling");
                _ = group.Run(_ => throw new InvalidOperationException("boom"), "failing");
                return Task.CompletedTask;
            });
            return false;
        }
        catch (TaskGroupException ex)
        {
            return ex.InnerExceptions.Count == 1 && ex.InnerException is InvalidOperationException;
        }
    }),
    ("BackgroundTasks: shutdown cancels running work and reports it", async () =>
    {
        var tracker = new BackgroundTaskTracker();
        var started = tracker.TryStart(ct => Task.Delay(Timeout.Infinite, ct), "worker");
        var report = await tracker.ShutdownAsync(TimeSpan.FromSeconds(10));
        return started && report.Cancelled == 1 && report.IsClean && tracker.InFlight == 0;
    }),
    ("Pagination: pages stream item by item", async () =>
    {
        var items = new List<int>();
        await foreach (var item in Paginator.FromPages<int>([[1, 2], [3]]))
        {
            items.Add(item);
        }

        return items.SequenceEqual([1, 2, 3]);
    }),
    ("Connections: a returned connection is reused", async () =>
    {
        var created = 0;
        await using var pool = new AsyncConnectionPool<object>(_ => ValueTask.FromResult<object>(++created), maxSize: 2);
        for (var i = 0; i < 3; i++)
        {
            await using var lease = await pool.AcquireAsync();
            _ = lease.Connection;
        }

        return created == 1;
    }),
    ("Http: every URL gets a result, failures included", async () =>
    {
        using var client = new HttpClient(new StatusHandler());
        var results = await new ConcurrentHttpFetcher(client).FetchAllRawAsync(
            [new Uri("http://package.test/ok"), new Uri("http://package.test/missing")]);
        return results.Count == 2 && results[0].IsSuccess && results[1].Error?.Kind == FetchErrorKind.HttpStatus;
    }),
    ("Http: AddAttemptPipeline retries a plain GetAsync with a permit per attempt, validated at start", async () =>
    {
        var handler = new FlakyHandler(failures: 2);
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 });
        var services = new ServiceCollection();
        services.AddHttpClient("flaky").ConfigurePrimaryHttpMessageHandler(() => handler).AddAttemptPipeline(o =>
        {
            o.Retry = new RetryOptions { BaseDelay = TimeSpan.FromMilliseconds(1), UseJitter = false };
            o.RateLimiter = limiter;
            o.AttemptTimeout = TimeSpan.FromSeconds(10);
        });
        services.AddHttpClient("typo").AddAttemptPipeline(o => o.RateLimiterName = "gihtub");
        await using var provider = services.BuildServiceProvider();
        var rejectsTypo = false;
        try
        {
            provider.GetRequiredService<IStartupValidator>().Validate();
        }
        catch (OptionsValidationException e) when (e.Message.Contains("'gihtub'", StringComparison.Ordinal))
        {
            rejectsTypo = true;
        }

        using var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("flaky");
        using var response = await client.GetAsync(new Uri("http://package.test/item"));
        return rejectsTypo && response.StatusCode == HttpStatusCode.OK && handler.Calls == 3;
    }),
    ("Retries: AddHttpRetry composes into a Polly builder", async () =>
    {
        var handler = new FlakyHandler(failures: 1);
        using var client = new HttpClient(handler);
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddHttpRetry(new RetryOptions { BaseDelay = TimeSpan.FromMilliseconds(1) })
            .Build();
        using var response = await pipeline.ExecuteAsync(async ct => await client.GetAsync(new Uri("http://package.test/item"), ct));
        return response.StatusCode == HttpStatusCode.OK && handler.Calls == 2;
    }),
    ("Redis: the assembly loaded is the packed version", () => Task.FromResult(
        typeof(RedisRateLimiter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.StartsWith(version, StringComparison.Ordinal) == true)),
    ("Redis: the package holds the net10.0 assembly, its XML docs, the README and its symbols package", () => Task.FromResult(
        PackageHasEntries(redisPackagePath, "lib/net10.0/AsyncPatterns.Redis.dll", "lib/net10.0/AsyncPatterns.Redis.xml", "package-readme.md")
        && File.Exists(Path.ChangeExtension(redisPackagePath, ".snupkg")))),
    ("Redis: the nuspec declares MIT, the README, and depends on AsyncPatterns and StackExchange.Redis", () => Task.FromResult(RedisNuspecIsComplete())),
    ("Redis: options are validated when the limiter is built", () => Task.FromResult(OptionsAreValidated())),
};

if (!string.IsNullOrEmpty(redisConnection))
{
    checks.Add(("Redis: two connections share one burst on the Redis of ASYNCPATTERNS_REDIS", async () =>
    {
        await using var first = await ConnectionMultiplexer.ConnectAsync(redisConnection);
        await using var second = await ConnectionMultiplexer.ConnectAsync(redisConnection);
        var key = "asyncpatterns-package-test:" + Guid.NewGuid().ToString("N");
        await using var a = new RedisRateLimiter(new RedisRateLimiterOptions { ConnectionMultiplexer = first, Key = key, PermitsPerSecond = 0.01, Burst = 2 });
        await using var b = new RedisRateLimiter(new RedisRateLimiterOptions { ConnectionMultiplexer = second, Key = key, PermitsPerSecond = 0.01, Burst = 2 });
        using var one = await a.AcquireAsync();
        using var two = b.AttemptAcquire();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        try
        {
            // The burst is spent across both connections: the third waits (100 s) until cancelled.
            using var three = await a.AcquireAsync(cts.Token);
            return false;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            return one.IsAcquired && two.IsAcquired;
        }
    }));
}

var failed = 0;
foreach (var (name, check) in checks)
{
    bool ok;
    try
    {
        ok = await check();
    }
    catch (Exception ex)
    {
        Console.WriteLine($"  error: {ex}");
        ok = false;
    }

    Console.WriteLine($"{(ok ? "ok  " : "FAIL")} {name}");
    failed += ok ? 0 : 1;
}

Console.WriteLine($"package test: {checks.Count - failed} passed, {failed} failed");
return failed == 0 ? 0 : 1;

bool PackageHas(params string[] entries) => PackageHasEntries(packagePath, entries);

bool PackageHasEntries(string path, params string[] entries)
{
    using var zip = ZipFile.OpenRead(path);
    var names = zip.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);
    var missing = entries.Where(e => !names.Contains(e)).ToList();
    missing.ForEach(m => Console.WriteLine($"  missing from the package: {m}"));
    return missing.Count == 0;
}

bool NuspecDeclaresLicenseAndReadme()
{
    using var zip = ZipFile.OpenRead(packagePath);
    using var stream = zip.GetEntry("AsyncPatterns.nuspec")!.Open();
    var metadata = XDocument.Load(stream).Root!.Elements().First(e => e.Name.LocalName == "metadata");
    var license = metadata.Elements().FirstOrDefault(e => e.Name.LocalName == "license");
    var readme = metadata.Elements().FirstOrDefault(e => e.Name.LocalName == "readme");
    return license is not null && (string?)license.Attribute("type") == "expression" && license.Value == "MIT"
        && readme?.Value == "package-readme.md";
}

bool RedisNuspecIsComplete()
{
    using var zip = ZipFile.OpenRead(redisPackagePath);
    using var stream = zip.GetEntry("AsyncPatterns.Redis.nuspec")!.Open();
    var metadata = XDocument.Load(stream).Root!.Elements().First(e => e.Name.LocalName == "metadata");
    var license = metadata.Elements().FirstOrDefault(e => e.Name.LocalName == "license");
    var readme = metadata.Elements().FirstOrDefault(e => e.Name.LocalName == "readme");
    var dependencies = metadata.Descendants().Where(e => e.Name.LocalName == "dependency")
        .Select(e => (string?)e.Attribute("id")).ToHashSet(StringComparer.Ordinal);
    return license is not null && (string?)license.Attribute("type") == "expression" && license.Value == "MIT"
        && readme?.Value == "package-readme.md"
        && dependencies.Contains("AsyncPatterns") && dependencies.Contains("StackExchange.Redis");
}

bool OptionsAreValidated()
{
    try
    {
        using var limiter = new RedisRateLimiter(new RedisRateLimiterOptions { PermitsPerSecond = 10 });
        return false;
    }
    catch (ArgumentException ex)
    {
        return ex.ParamName == "options" && ex.Message.Contains("RedisRateLimiterOptions.ConnectionMultiplexer must be set", StringComparison.Ordinal);
    }
}

/// <summary>Answers 200 for /ok and 404 for anything else, without a network.</summary>
/// <summary>Answers 503 <c>failures</c> times, then 200.</summary>
internal sealed class FlakyHandler(int failures) : HttpMessageHandler
{
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        Task.FromResult(new HttpResponseMessage(Interlocked.Increment(ref _calls) <= failures ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.OK)
        {
            Content = new StringContent("{}"),
            RequestMessage = request,
        });
}

internal sealed class StatusHandler : HttpMessageHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        Task.FromResult(new HttpResponseMessage(request.RequestUri!.AbsolutePath == "/ok" ? HttpStatusCode.OK : HttpStatusCode.NotFound)
        {
            Content = new StringContent("{}"),
            RequestMessage = request,
        });
}
