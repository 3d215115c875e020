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
        { o => o.MaxRetries = -1, "RetryOptions.MaxRetries must be zero or more (was -1)." },
        { o => o.MaxRetries = int.MinValue, $"RetryOptions.MaxRetries must be zero or more (was {int.MinValue})." },
        { o => o.BaseDelay = TimeSpan.FromMilliseconds(-1), "RetryOptions.BaseDelay must be between zero and one day (RetryOptions.MaxAllowedDelay) (was -00:00:00.0010000)." },
        { o => o.BaseDelay = TimeSpan.FromDays(2), "RetryOptions.BaseDelay must be between zero and one day (RetryOptions.MaxAllowedDelay) (was 2.00:00:00)." },
        { o => o.BaseDelay = RetryOptions.MaxAllowedDelay + TimeSpan.FromTicks(1), "RetryOptions.BaseDelay must be between zero and one day (RetryOptions.MaxAllowedDelay) (was 1.00:00:00.0000001)." },
        { o => o.MaxDelay = TimeSpan.Zero, "RetryOptions.MaxDelay must be positive and at most one day (RetryOptions.MaxAllowedDelay), or null (was 00:00:00)." },
        { o => o.MaxDelay = TimeSpan.FromSeconds(-5), "RetryOptions.MaxDelay must be positive and at most one day (RetryOptions.MaxAllowedDelay), or null (was -00:00:05)." },
        { o => o.MaxDelay = TimeSpan.MaxValue, "RetryOptions.MaxDelay must be positive and at most one day (RetryOptions.MaxAllowedDelay), or null (was 10675199.02:48:05.4775807)." },
        { o => o.MaxTotalDelay = TimeSpan.FromSeconds(-1), "RetryOptions.MaxTotalDelay must be positive or null (was -00:00:01)." },
        { o => o.MaxTotalDelay = TimeSpan.Zero, "RetryOptions.MaxTotalDelay must be positive or null (was 00:00:00)." },
        { o => o.BackoffType = (DelayBackoffType)42, "RetryOptions.BackoffType must be DelayBackoffType.Constant, DelayBackoffType.Linear or DelayBackoffType.Exponential (was 42)." },
    };

    [Theory]
    [MemberData(nameof(InvalidValues))]
    public void CreatePipeline_InvalidValue_ThrowsTheValidatorsMessageEverywhere(Action<RetryOptions> configure, string expected)
    {
        var options = new RetryOptions();
        configure(options);

        var build = () => options.CreatePipeline();
        build.Should().Throw<ArgumentException>().WithMessage(expected).Which.ParamName.Should().BeNull("the options are the instance itself");
        var validate = options.Validate;
        validate.Should().Throw<ArgumentException>().WithMessage(expected);
        var http = () => HttpRetry.CreatePipeline(options);
        http.Should().Throw<ArgumentException>().WithParameterName("options").WithMessage(expected + " (Parameter 'options')");
        Action run = () => _ = Retry.ExecuteAsync(_ => Task.CompletedTask, options);
        run.Should().Throw<ArgumentException>().WithParameterName("options").WithMessage(expected + " (Parameter 'options')");
    }

    [Fact]
    public void Validate_SeveralRulesBroken_ListsEveryOne()
    {
        var options = new RetryOptions { MaxRetries = -1, MaxTotalDelay = TimeSpan.Zero };

        options.Invoking(o => o.Validate()).Should().Throw<ArgumentException>().WithMessage(
            "RetryOptions.MaxRetries must be zero or more (was -1). RetryOptions.MaxTotalDelay must be positive or null (was 00:00:00).");
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
