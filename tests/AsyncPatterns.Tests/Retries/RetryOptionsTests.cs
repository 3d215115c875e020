using AsyncPatterns.Retries;
using Polly;

namespace AsyncPatterns.Tests.Retries;

public sealed class RetryOptionsTests
{
    [Fact]
    public void Defaults_AreTheDocumentedValues()
    {
        var options = new RetryOptions();
        options.MaxRetries.Should().Be(3);
        options.BaseDelay.Should().Be(TimeSpan.FromSeconds(1));
        options.BackoffType.Should().Be(DelayBackoffType.Exponential);
        options.MaxDelay.Should().BeNull();
        options.MaxTotalDelay.Should().BeNull();
        options.UseJitter.Should().BeTrue();
        options.ShouldRetry.Should().BeNull();
        options.OnRetry.Should().BeNull();
        options.Randomizer.Should().BeNull();
        options.TimeProvider.Should().BeSameAs(TimeProvider.System);
    }

    public static TheoryData<Action<RetryOptions>, string> InvalidValues => new()
    {
        { o => o.MaxRetries = -1, nameof(RetryOptions.MaxRetries) },
        { o => o.BaseDelay = TimeSpan.FromMilliseconds(-1), nameof(RetryOptions.BaseDelay) },
        { o => o.BaseDelay = TimeSpan.FromDays(2), nameof(RetryOptions.BaseDelay) },
        { o => o.MaxDelay = TimeSpan.Zero, nameof(RetryOptions.MaxDelay) },
        { o => o.MaxDelay = TimeSpan.FromSeconds(-5), nameof(RetryOptions.MaxDelay) },
        { o => o.MaxTotalDelay = TimeSpan.FromSeconds(-1), nameof(RetryOptions.MaxTotalDelay) },
        { o => o.MaxTotalDelay = TimeSpan.Zero, nameof(RetryOptions.MaxTotalDelay) },
        { o => o.BackoffType = (DelayBackoffType)42, nameof(RetryOptions.BackoffType) },
    };

    [Theory]
    [MemberData(nameof(InvalidValues))]
    public void CreatePipeline_InvalidValue_ThrowsArgumentOutOfRangeNamingTheProperty(Action<RetryOptions> configure, string property)
    {
        var options = new RetryOptions();
        configure(options);

        var build = () => options.CreatePipeline();
        build.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(property);
        var validate = options.Validate;
        validate.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(property);
        var http = () => HttpRetry.CreatePipeline(options);
        http.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(property);
    }

    [Fact]
    public void CreatePipeline_UnchangedOptions_ReturnsTheCachedPipeline()
    {
        var options = new RetryOptions();
        var first = options.CreatePipeline();
        options.CreatePipeline().Should().BeSameAs(first);

        options.UseJitter = false;
        options.CreatePipeline().Should().NotBeSameAs(first);
    }

    [Fact]
    public void TimeProvider_SetToNull_RestoresTheSystemClock()
    {
        var options = new RetryOptions { TimeProvider = FakeClock.Create() };
        options.TimeProvider = null!;
        options.TimeProvider.Should().BeSameAs(TimeProvider.System);
    }

    [Fact]
    public void Validate_BoundaryValues_AreAccepted()
    {
        var options = new RetryOptions
        {
            MaxRetries = 0,
            BaseDelay = TimeSpan.Zero,
            MaxDelay = RetryOptions.MaxAllowedDelay,
            MaxTotalDelay = TimeSpan.FromTicks(1),
        };
        options.Invoking(o => o.Validate()).Should().NotThrow();
        options.Invoking(o => o.CreatePipeline()).Should().NotThrow();

        options.MaxRetries = int.MaxValue;
        options.BaseDelay = RetryOptions.MaxAllowedDelay;
        options.Invoking(o => o.CreatePipeline()).Should().NotThrow();
    }
}
