using AsyncPatterns.BackgroundTasks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AsyncPatterns.Tests.BackgroundTasks;

public sealed class BackgroundTaskTrackerOptionsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Ctor_Defaults_AreTheDocumentedValues()
    {
        var options = new BackgroundTaskTrackerOptions();

        options.MaxInFlight.Should().Be(64);
        options.MaxQueued.Should().Be(1024);
        options.DefaultGrace.Should().Be(TimeSpan.FromSeconds(30));
        options.FaultBehavior.Should().Be(BackgroundTaskFaultBehavior.Log);
    }

    [Fact]
    public void Setters_InvalidValues_StoreThemWithoutThrowing()
    {
        var options = new BackgroundTaskTrackerOptions
        {
            MaxInFlight = 0,
            MaxQueued = -1,
            DefaultGrace = TimeSpan.FromSeconds(-1),
            FaultBehavior = (BackgroundTaskFaultBehavior)42,
        };

        options.MaxInFlight.Should().Be(0);
        options.MaxQueued.Should().Be(-1);
        options.DefaultGrace.Should().Be(TimeSpan.FromSeconds(-1));
        options.FaultBehavior.Should().Be((BackgroundTaskFaultBehavior)42);
    }

    public static TheoryData<string, Action<BackgroundTaskTrackerOptions>, string> BrokenRules => new()
    {
        { "MaxInFlight 0", o => o.MaxInFlight = 0, "BackgroundTaskTrackerOptions.MaxInFlight must be at least 1 (was 0)." },
        { "MaxInFlight -1", o => o.MaxInFlight = -1, "BackgroundTaskTrackerOptions.MaxInFlight must be at least 1 (was -1)." },
        { "MaxInFlight int.MinValue", o => o.MaxInFlight = int.MinValue, $"BackgroundTaskTrackerOptions.MaxInFlight must be at least 1 (was {int.MinValue})." },
        { "MaxQueued -1", o => o.MaxQueued = -1, "BackgroundTaskTrackerOptions.MaxQueued must be zero or more (was -1)." },
        { "MaxQueued int.MinValue", o => o.MaxQueued = int.MinValue, $"BackgroundTaskTrackerOptions.MaxQueued must be zero or more (was {int.MinValue})." },
        { "DefaultGrace -1 tick", o => o.DefaultGrace = TimeSpan.FromTicks(-1), "BackgroundTaskTrackerOptions.DefaultGrace must be zero or more and at most about 49.7 days (the longest timer), or Timeout.InfiniteTimeSpan (was -00:00:00.0000001)." },
        { "DefaultGrace -2 ms", o => o.DefaultGrace = TimeSpan.FromMilliseconds(-2), "BackgroundTaskTrackerOptions.DefaultGrace must be zero or more and at most about 49.7 days (the longest timer), or Timeout.InfiniteTimeSpan (was -00:00:00.0020000)." },
        { "DefaultGrace longest timer + 1 ms", o => o.DefaultGrace = TimeSpan.FromMilliseconds(uint.MaxValue), "BackgroundTaskTrackerOptions.DefaultGrace must be zero or more and at most about 49.7 days (the longest timer), or Timeout.InfiniteTimeSpan (was 49.17:02:47.2950000)." },
        { "DefaultGrace MaxValue", o => o.DefaultGrace = TimeSpan.MaxValue, "BackgroundTaskTrackerOptions.DefaultGrace must be zero or more and at most about 49.7 days (the longest timer), or Timeout.InfiniteTimeSpan (was 10675199.02:48:05.4775807)." },
        { "FaultBehavior 42", o => o.FaultBehavior = (BackgroundTaskFaultBehavior)42, "BackgroundTaskTrackerOptions.FaultBehavior must be BackgroundTaskFaultBehavior.Log or BackgroundTaskFaultBehavior.LogAndStopHost (was 42)." },
    };

    [Theory]
    [MemberData(nameof(BrokenRules))]
    public void Constructor_BrokenRule_ThrowsNamingOptionsWithTheRulesMessage(string rule, Action<BackgroundTaskTrackerOptions> configure, string expected)
    {
        var options = new BackgroundTaskTrackerOptions();
        configure(options);

        var act = () => new BackgroundTaskTracker(options);

        act.Should().Throw<ArgumentException>(rule).WithParameterName("options").WithMessage(expected + " (Parameter 'options')");
    }

    [Theory]
    [MemberData(nameof(BrokenRules))]
    public async Task HostStart_BrokenRule_FailsWithTheConstructorsMessageNamingTheInstance(string rule, Action<BackgroundTaskTrackerOptions> configure, string expected)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddBackgroundTaskTracker(configure);
        using var host = builder.Build();

        var act = () => host.StartAsync(Ct);

        var thrown = await act.Should().ThrowAsync<OptionsValidationException>(rule);
        thrown.Which.Failures.Should().Equal($"BackgroundTaskTrackerOptions '': {expected}");
        thrown.Which.OptionsType.Should().Be<BackgroundTaskTrackerOptions>();
    }

    public static TheoryData<string, Action<BackgroundTaskTrackerOptions>> AcceptedLimits => new()
    {
        { "MaxInFlight 1", o => o.MaxInFlight = 1 },
        { "MaxInFlight int.MaxValue, MaxQueued int.MaxValue", o => { o.MaxInFlight = int.MaxValue; o.MaxQueued = int.MaxValue; } },
        { "MaxQueued 0", o => o.MaxQueued = 0 },
        { "DefaultGrace zero", o => o.DefaultGrace = TimeSpan.Zero },
        { "DefaultGrace longest timer", o => o.DefaultGrace = TimeSpan.FromMilliseconds(uint.MaxValue - 1) },
        { "DefaultGrace infinite", o => o.DefaultGrace = Timeout.InfiniteTimeSpan },
    };

    [Theory]
    [MemberData(nameof(AcceptedLimits))]
    public async Task Constructor_ValueAtTheLimit_IsAccepted(string rule, Action<BackgroundTaskTrackerOptions> configure)
    {
        var options = new BackgroundTaskTrackerOptions();
        configure(options);

        await using var tracker = new BackgroundTaskTracker(options);

        tracker.TryStart(_ => Task.CompletedTask).Should().BeTrue(rule);
    }

    [Fact]
    public void Constructor_SeveralRulesBroken_ListsEveryOne()
    {
        var act = () => new BackgroundTaskTracker(new BackgroundTaskTrackerOptions { MaxInFlight = 0, MaxQueued = -1 });

        act.Should().Throw<ArgumentException>().WithParameterName("options").WithMessage(
            "BackgroundTaskTrackerOptions.MaxInFlight must be at least 1 (was 0). BackgroundTaskTrackerOptions.MaxQueued must be zero or more (was -1).*");
    }

    [Fact]
    public async Task HostStart_BadValueBoundFromConfiguration_FailsNamingTheInstanceAndTheProperty()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection([new("BackgroundTasks:MaxQueued", "-5"), new("BackgroundTasks:DefaultGrace", "00:00:05")]);
        builder.Services.AddBackgroundTaskTracker(builder.Configuration.GetSection("BackgroundTasks"));
        using var host = builder.Build();

        var act = () => host.StartAsync(Ct);

        (await act.Should().ThrowAsync<OptionsValidationException>()).Which.Message
            .Should().Be("BackgroundTaskTrackerOptions '': BackgroundTaskTrackerOptions.MaxQueued must be zero or more (was -5).");
    }
}
