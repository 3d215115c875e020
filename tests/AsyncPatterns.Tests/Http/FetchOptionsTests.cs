using System.Threading.RateLimiting;
using AsyncPatterns.Http;
using Polly;

namespace AsyncPatterns.Tests.Http;

public sealed class FetchOptionsTests
{
    [Fact]
    public void Constructor_Defaults_AreTheDocumentedOnes()
    {
        var options = new FetchOptions();

        options.MaxConcurrency.Should().Be(16).And.Be(FetchOptions.DefaultMaxConcurrency);
        options.MaxConcurrencyPerHost.Should().BeNull();
        options.PerRequestTimeout.Should().Be(TimeSpan.FromSeconds(30));
        options.MaxResponseBytes.Should().Be(10 * 1024 * 1024).And.Be(FetchOptions.DefaultMaxResponseBytes);
        options.FailFast.Should().BeFalse();
        options.RateLimiter.Should().BeNull();
        options.ResiliencePipeline.Should().BeNull();
        options.TimeProvider.Should().BeSameAs(TimeProvider.System);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void MaxConcurrency_LessThanOne_ThrowsNamingTheProperty(int value)
    {
        var act = () => new FetchOptions { MaxConcurrency = value };

        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be(nameof(FetchOptions.MaxConcurrency));
    }

    [Fact]
    public void MaxConcurrencyPerHost_LessThanOne_ThrowsNamingTheProperty()
    {
        var act = () => new FetchOptions { MaxConcurrencyPerHost = 0 };

        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be(nameof(FetchOptions.MaxConcurrencyPerHost));
    }

    [Fact]
    public void PerRequestTimeout_ZeroOrNegative_ThrowsButInfiniteIsAccepted()
    {
        FluentActions.Invoking(() => new FetchOptions { PerRequestTimeout = TimeSpan.Zero })
            .Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be(nameof(FetchOptions.PerRequestTimeout));
        FluentActions.Invoking(() => new FetchOptions { PerRequestTimeout = TimeSpan.FromSeconds(-1) })
            .Should().Throw<ArgumentOutOfRangeException>();
        new FetchOptions { PerRequestTimeout = Timeout.InfiniteTimeSpan }.PerRequestTimeout.Should().Be(Timeout.InfiniteTimeSpan);
    }

    [Fact]
    public void MaxResponseBytes_LessThanOne_ThrowsNamingTheProperty()
    {
        var act = () => new FetchOptions { MaxResponseBytes = 0 };

        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be(nameof(FetchOptions.MaxResponseBytes));
    }

    [Fact]
    public void TimeProvider_Null_ThrowsNamingTheProperty()
    {
        var act = () => new FetchOptions { TimeProvider = null! };

        act.Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be(nameof(FetchOptions.TimeProvider));
    }

    [Fact]
    public async Task Fetcher_OptionsChangedAfterCreation_KeepsTheCopyItWasGiven()
    {
        using var handler = new StubHttpMessageHandler();
        handler.OnAnyRequest(StubResponse.Json("{\"id\":1,\"name\":\"a\",\"price\":1}"));
        using var client = new HttpClient(handler);
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 });
        var options = new FetchOptions { MaxResponseBytes = 1024 };
        var fetcher = new AsyncPatterns.Http.ConcurrentHttpFetcher(client, options);

        options.MaxResponseBytes = 1;
        options.RateLimiter = limiter;
        options.ResiliencePipeline = ResiliencePipeline<HttpResponseMessage>.Empty;
        var results = await fetcher.FetchAllAsync([new Uri("http://stub.test/a")], HttpTestJson.Default.ServerItem, TestContext.Current.CancellationToken);

        results[0].IsSuccess.Should().BeTrue();
    }

    [Fact]
    public void PerRequestTimeout_BeyondTheLongestTimer_ThrowsNamingTheProperty()
    {
        var act = () => new FetchOptions { PerRequestTimeout = TimeSpan.FromDays(60) };

        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be(nameof(FetchOptions.PerRequestTimeout));
        new FetchOptions { PerRequestTimeout = TimeSpan.FromMilliseconds(uint.MaxValue - 1) }.PerRequestTimeout
            .Should().Be(TimeSpan.FromMilliseconds(uint.MaxValue - 1), "the longest due time a timer accepts is accepted");
        FluentActions.Invoking(() => new FetchOptions { PerRequestTimeout = TimeSpan.MaxValue })
            .Should().Throw<ArgumentOutOfRangeException>();
    }
}
