using System.Net;
using AsyncPatterns.Http;
using AsyncPatterns.Retries;

namespace AsyncPatterns.Tests.Http;

/// <summary>A server's Retry-After through the fetcher's retries: a value too long to wait is that URL's result, never an exception.</summary>
public sealed partial class ConcurrentHttpFetcherTests
{
    [Theory]
    [InlineData("99999999", null)]
    [InlineData("Fri, 31 Dec 9999 23:59:59 GMT", null)]
    [InlineData("3600", 60)]
    public async Task FetchAllAsync_RetryAfterTooLongToWait_IsThatUrlsStatusResultAndTheOthersSucceed(string retryAfter, int? maxDelaySeconds)
    {
        _handler.OnPath("/huge", StubResponse.Status(HttpStatusCode.ServiceUnavailable).WithHeader("Retry-After", retryAfter), Item(99));
        for (var i = 1; i <= 4; i++)
        {
            _handler.OnPath($"/item/{i}", Item(i));
        }

        var retry = new RetryOptions
        {
            TimeProvider = _clock,
            MaxDelay = maxDelaySeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
        };
        Uri[] urls = [Url("item/1"), Url("item/2"), Url("huge"), Url("item/3"), Url("item/4")];

        var task = Fetcher(o => o.Retry = retry).FetchAllAsync(urls, HttpTestJson.Default.ServerItem, Ct);
        var results = await task.WaitAsync(FakeClock.HangTimeout, Ct);

        results.Should().HaveCount(5);
        results.Where((_, i) => i != 2).Should().OnlyContain(r => r.IsSuccess);
        var huge = results[2];
        huge.IsSuccess.Should().BeFalse();
        huge.Error!.Kind.Should().Be(FetchErrorKind.HttpStatus);
        huge.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        huge.Attempts.Should().Be(1, "a Retry-After longer than any delay the options allow ends retrying at once");
        _handler.Requests.Count(r => r.Uri?.AbsolutePath == "/huge").Should().Be(1);
    }
}
