using System.Globalization;
using Microsoft.Extensions.Options;

namespace AsyncPatterns.Internal;

/// <summary>
/// The one validator of an options type: it lists every failure, each in the form
/// <c>&lt;Type&gt;.&lt;Property&gt; must be … (was …).</c>. The object built from the options throws
/// <see cref="ArgumentException"/> with all of them (<see cref="ThrowIfInvalid"/>); under dependency injection the same
/// validator is the <see cref="IValidateOptions{TOptions}"/> checked at host start, which prefixes each failure with
/// <c>&lt;Type&gt; '&lt;name&gt;': </c> so the <see cref="OptionsValidationException"/> names the instance.
/// </summary>
/// <typeparam name="TOptions">The options type.</typeparam>
internal abstract class OptionsValidator<TOptions> : IValidateOptions<TOptions>
    where TOptions : class
{
    /// <summary>The options type's name as users write it (no generic arity suffix).</summary>
    public abstract string TypeName { get; }

    /// <summary>Adds a failure to <paramref name="failures"/> for every rule <paramref name="options"/> breaks.</summary>
    /// <param name="options">The options to check.</param>
    /// <param name="path">The prefix of every property in a message: the type's name, or a parent's path and property for nested options.</param>
    /// <param name="failures">Where failures are added.</param>
    public abstract void Collect(TOptions options, string path, List<string> failures);

    /// <summary>Every failure of <paramref name="options"/>; empty when they are valid.</summary>
    public List<string> Failures(TOptions options)
    {
        var failures = new List<string>();
        Collect(options, TypeName, failures);
        return failures;
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming <paramref name="paramName"/> when <paramref name="options"/> break a rule.</summary>
    public void ThrowIfInvalid(TOptions options, string paramName)
    {
        var failures = Failures(options);
        if (failures.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", failures), paramName);
        }
    }

    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = Failures(options);
        if (failures.Count == 0)
        {
            return ValidateOptionsResult.Success;
        }

        var prefix = $"{TypeName} '{name}': ";
        return ValidateOptionsResult.Fail(failures.ConvertAll(failure => prefix + failure));
    }

    /// <summary>Adds <c>path.property must be rule (was value).</c> when <paramref name="valid"/> is false.</summary>
    protected static void Require(bool valid, List<string> failures, string path, string property, string rule, object? value)
    {
        if (!valid)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{path}.{property} must be {rule} (was {Format(value)})."));
        }
    }

    /// <summary>Formats a value for a message, culture-invariant: <c>null</c>, <c>TimeSpan</c> in <c>c</c> format, doubles round-trippable.</summary>
    protected static string Format(object? value) => value switch
    {
        null => "null",
        string text => text,
        TimeSpan span when span == Timeout.InfiniteTimeSpan => "Timeout.InfiniteTimeSpan",
        TimeSpan span => span.ToString("c", CultureInfo.InvariantCulture),
        double number => number.ToString("R", CultureInfo.InvariantCulture),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.GetType().Name,
    };
}
