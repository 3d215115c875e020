using AsyncPatterns.Internal;

namespace AsyncPatterns.Tests.Internal;

public sealed class UriRedactionTests
{
    [Theory]
    [InlineData("http://user:hunter2@host.test/a?b=c", "http://***@host.test/a?b=c")]
    [InlineData("ftp://user:hunter2@127.0.0.1/x", "ftp://***@127.0.0.1/x")]
    [InlineData("http://a@b@host.test/", "http://***@host.test/")]
    [InlineData("//user:pw@host.test/x", "//***@host.test/x")]
    [InlineData("http://host.test/path@x", "http://host.test/path@x")]
    [InlineData("http://host.test?q=a@b", "http://host.test?q=a@b")]
    [InlineData("relative/a@b", "relative/a@b")]
    [InlineData("/p?u=http://x@y", "/p?u=http://x@y")]
    [InlineData("", "")]
    public void Redact_Text_MasksOnlyTheUserInfoOfTheAuthority(string text, string expected)
    {
        UriRedaction.Redact(text).Should().Be(expected);
    }

    [Fact]
    public void Redact_Uri_MasksUserInfoAndLeavesOtherUrisAsToStringWritesThem()
    {
        UriRedaction.Redact(new Uri("http://user:hunter2@host.test/x")).Should().Be("http://***@host.test/x");
        var plain = new Uri("http://host.test/a b");
        UriRedaction.Redact(plain).Should().Be(plain.ToString());
        UriRedaction.Redact(new Uri("//u:p@h.test/x", UriKind.Relative)).Should().Be("//***@h.test/x");
        UriRedaction.Redact((Uri?)null).Should().BeEmpty();
        UriRedaction.Redact((string?)null).Should().BeEmpty();
    }
}
