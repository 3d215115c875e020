using AsyncPatterns.Pagination;

namespace AsyncPatterns.Tests.Pagination;

public sealed class PageTests
{
    [Theory]
    [InlineData(null, true)]
    [InlineData("", true)]
    [InlineData("t", false)]
    public void IsLastPage_Token_IsTrueOnlyWithoutToken(string? token, bool expected)
    {
        new Page<int>([1], token).IsLastPage.Should().Be(expected);
    }

    [Fact]
    public void Constructor_Values_AreKept()
    {
        int[] items = [1, 2];
        var raw = new object();

        var page = new Page<int>(items, "t", raw);

        page.Items.Should().BeSameAs(items);
        page.ContinuationToken.Should().Be("t");
        page.RawResponse.Should().BeSameAs(raw);
    }

    [Fact]
    public void Constructor_NullItems_Throws()
    {
        FluentActions.Invoking(() => new Page<int>(null!, null)).Should().Throw<ArgumentNullException>().WithParameterName("items");
    }
}
