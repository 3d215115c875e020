using AsyncPatterns.Pagination;

namespace AsyncPatterns.Tests.Pagination;

/// <summary>Foreign continuation tokens are rejected at the <c>AsPages</c> call, for the keyset and page-number kinds.</summary>
public sealed partial class PaginatorTests
{
    [Theory]
    [InlineData("☃")]
    [InlineData("abc")]
    [InlineData("1.5")]
    [InlineData("99999999999")]
    public void FromKeyset_BuiltInParsingGivenAForeignToken_ThrowsArgumentExceptionNamingContinuationTokenAtTheCall(string token)
    {
        var fetches = 0;
        var paginator = Paginator.FromKeyset<int, int>(
            (after, limit, _) =>
            {
                fetches++;
                return Items(after + 1);
            },
            item => item,
            0,
            10);

        var act = () => paginator.AsPages(token);

        var ex = act.Should().Throw<ArgumentException>().WithParameterName("continuationToken").Which;
        ex.InnerException.Should().NotBeNull("the parser's own reason is kept");
        ex.Message.Should().Contain("keyset");
        fetches.Should().Be(0);
    }

    [Theory]
    [InlineData(typeof(FormatException))]
    [InlineData(typeof(InvalidOperationException))]
    [InlineData(typeof(ArgumentException))]
    public void FromKeyset_CustomParseKeyThrows_IsWrappedAsArgumentExceptionNamingContinuationToken(Type exceptionType)
    {
        var failure = (Exception)Activator.CreateInstance(exceptionType, "not one of ours")!;
        var paginator = Paginator.FromKeyset<string, string>(
            (_, _, _) => Task.FromResult<IReadOnlyList<string>>(["a"]),
            item => item,
            string.Empty,
            10,
            key => "k:" + key,
            token => token.StartsWith("k:", StringComparison.Ordinal) ? token[2..] : throw failure);

        var act = () => paginator.AsPages("foreign");

        act.Should().Throw<ArgumentException>().WithParameterName("continuationToken")
            .Which.InnerException.Should().BeSameAs(failure);
    }

    [Fact]
    public async Task FromKeyset_OwnTokenOfACustomCodec_ResumesAfterThatKey()
    {
        var afters = new List<string>();
        var paginator = Paginator.FromKeyset<string, string>(
            (after, _, _) =>
            {
                afters.Add(after);
                return Task.FromResult<IReadOnlyList<string>>(after == "b" ? ["c"] : []);
            },
            item => item,
            string.Empty,
            1,
            key => "k:" + key,
            token => token.StartsWith("k:", StringComparison.Ordinal) ? token[2..] : throw new FormatException());

        var pages = await paginator.AsPages("k:b").CollectAsync(Ct);

        afters.Should().Equal("b", "c");
        pages[0].Items.Should().Equal("c");
        pages[0].ContinuationToken.Should().Be("k:c");
    }

    [Fact]
    public async Task FromKeyset_ParseKeyRejectsItsOwnFormattedToken_ThrowsInvalidOperationExceptionNamingTheCodec()
    {
        var paginator = Paginator.FromKeyset<int, int>(
            (after, _, _) => Items(after + 1),
            item => item,
            0,
            1,
            key => "#" + key,
            _ => throw new FormatException("mismatched codec"));

        var act = async () => await paginator.AsPages().CollectAsync(Ct);

        var ex = (await act.Should().ThrowAsync<InvalidOperationException>()).Which;
        ex.Message.Should().Contain("parseKey").And.Contain("#1");
        ex.InnerException.Should().BeOfType<FormatException>();
    }

    [Theory]
    [InlineData("2147483648")]
    [InlineData("99999999999")]
    public void FromPageNumber_TokenBeyondTheRangeOfAPageNumber_ThrowsArgumentExceptionAtTheCall(string token)
    {
        var paginator = Paginator.FromPageNumber<int>((_, _, _) => Items(1), 10);

        var act = () => paginator.AsPages(token);

        act.Should().Throw<ArgumentException>().WithParameterName("continuationToken");
    }
    [Fact]
    public async Task FromPageNumber_FullPageAtIntMaxValue_ThrowsOverflowInsteadOfFetchingAWrappedPageNumber()
    {
        var requested = new List<int>();
        var paginator = Paginator.FromPageNumber<int>(
            (page, size, _) =>
            {
                requested.Add(page);
                return Items(Enumerable.Range(0, size).ToArray());
            },
            2);
        var pages = new List<Page<int>>();

        var act = async () =>
        {
            await foreach (var page in paginator.AsPages("2147483647").WithCancellation(Ct))
            {
                pages.Add(page);
            }
        };

        await act.Should().ThrowAsync<OverflowException>();
        requested.Should().Equal(int.MaxValue);
        pages.Should().ContainSingle().Which.ContinuationToken.Should().Be("2147483648");
    }
}
