using AsyncPatterns.Internal;

namespace AsyncPatterns.TaskGroups.Internal;

/// <summary>The rules of <see cref="TaskGroupOptions"/>, checked when a group is created from them.</summary>
internal sealed class TaskGroupOptionsValidator : OptionsValidator<TaskGroupOptions>
{
    public static readonly TaskGroupOptionsValidator Instance = new();

    public override string TypeName => nameof(TaskGroupOptions);

    public override void Collect(TaskGroupOptions options, string path, List<string> failures)
    {
        Require(options.MaxConcurrency is null or > 0, failures, path, nameof(TaskGroupOptions.MaxConcurrency), "positive or null", options.MaxConcurrency);
        Require(options.Mode is TaskGroupMode.FailFast or TaskGroupMode.Supervisor, failures, path, nameof(TaskGroupOptions.Mode),
            $"{nameof(TaskGroupMode)}.{nameof(TaskGroupMode.FailFast)} or {nameof(TaskGroupMode)}.{nameof(TaskGroupMode.Supervisor)}", options.Mode);
        Require(options.Timeout is null || options.Timeout.Value > TimeSpan.Zero || options.Timeout.Value == Timeout.InfiniteTimeSpan,
            failures, path, nameof(TaskGroupOptions.Timeout), "positive, Timeout.InfiniteTimeSpan or null", options.Timeout);
        Require(options.TimeProvider is not null, failures, path, nameof(TaskGroupOptions.TimeProvider), "set", options.TimeProvider);
        Require(options.OnChildFaulted is null || options.Mode == TaskGroupMode.Supervisor, failures, path, nameof(TaskGroupOptions.OnChildFaulted),
            $"null unless {nameof(TaskGroupOptions.Mode)} is {nameof(TaskGroupMode)}.{nameof(TaskGroupMode.Supervisor)}",
            $"set with {nameof(TaskGroupOptions.Mode)} {options.Mode}");
    }
}
