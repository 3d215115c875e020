using System.Reflection;
using AsyncPatterns.Redis;
using AsyncPatterns.TaskGroups;

namespace AsyncPatterns.DocsTests;

/// <summary>The README's library-wide rules about the shape of the public API (tests/GUARANTEES.md G5).</summary>
public sealed class PublicApiShapeTests
{
    private static readonly Assembly[] Libraries = [typeof(TaskGroup).Assembly, typeof(RedisRateLimiter).Assembly];

    [Fact]
    public void EveryPublicMethodThatWaits_TakesACancellationTokenLast()
    {
        var offenders = PublicMethods()
            .Where(m => IsAwaitable(m.ReturnType))
            .Where(m => m.Name is not "DisposeAsync")
            // Run starts a child and returns its task at once, without waiting: the child gets the group's token.
            .Where(m => !(m.DeclaringType == typeof(TaskGroup) && m.Name == nameof(TaskGroup.Run)))
            // WhenAllAsync waits for the group's own children: it is cancelled through the group (the README says so).
            .Where(m => !(m.DeclaringType == typeof(TaskGroup) && m.Name == nameof(TaskGroup.WhenAllAsync)))
            .Where(m => m.GetParameters() is not [.., { ParameterType: var last }] || last != typeof(CancellationToken))
            .Select(Describe)
            .ToList();

        offenders.Should().BeEmpty("every method that waits takes a CancellationToken as its last parameter (README, rules that hold across the library)");
    }

    private static IEnumerable<MethodInfo> PublicMethods() =>
        Libraries.SelectMany(a => a.GetExportedTypes())
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(m => !m.IsSpecialName)
            // Overrides of BCL contracts keep the BCL's signature (RateLimiter.AcquireAsyncCore, DelegatingHandler.SendAsync).
            .Where(m => m.GetBaseDefinition() == m);

    private static bool IsAwaitable(Type type) =>
        type == typeof(Task) || type == typeof(ValueTask)
        || (type.IsGenericType && (type.GetGenericTypeDefinition() == typeof(Task<>) || type.GetGenericTypeDefinition() == typeof(ValueTask<>)));

    private static string Describe(MethodInfo m) =>
        $"{m.DeclaringType!.FullName}.{m.Name}({string.Join(", ", m.GetParameters().Select(p => p.ParameterType.Name))})";
}
