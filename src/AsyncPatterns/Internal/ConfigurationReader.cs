using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace AsyncPatterns.Internal;

/// <summary>
/// Reads options values from configuration without reflection (so binding stays trimming- and AOT-safe): each options
/// type lists its bindable keys in one <c>Bind</c> method. A key that is absent leaves the property as it is; a value
/// that does not parse throws <see cref="InvalidOperationException"/> naming its path, as the configuration binder does.
/// </summary>
internal static class ConfigurationReader
{
    public static void Int32(IConfiguration section, string key, Action<int> set) =>
        Read(section, key, set, static text => int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null);

    public static void NullableInt32(IConfiguration section, string key, Action<int?> set) =>
        ReadNullable(section, key, set, static text => int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null);

    public static void Int64(IConfiguration section, string key, Action<long> set) =>
        Read(section, key, set, static text => long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null);

    public static void Double(IConfiguration section, string key, Action<double> set) =>
        Read(section, key, set, static text => double.TryParse(text, NumberStyles.Float | NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out var v) ? v : null);

    public static void Boolean(IConfiguration section, string key, Action<bool> set) =>
        Read(section, key, set, static text => bool.TryParse(text, out var v) ? v : null);

    public static void TimeSpan(IConfiguration section, string key, Action<TimeSpan> set) =>
        Read(section, key, set, static text => System.TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var v) ? v : null);

    public static void NullableTimeSpan(IConfiguration section, string key, Action<TimeSpan?> set) =>
        ReadNullable(section, key, set, static text => System.TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var v) ? v : null);

    public static void Enum<TEnum>(IConfiguration section, string key, Action<TEnum> set)
        where TEnum : struct, Enum =>
        Read(section, key, set, static text => System.Enum.TryParse<TEnum>(text, ignoreCase: true, out var v) && System.Enum.IsDefined(v) ? v : null);

    private static void Read<T>(IConfiguration section, string key, Action<T> set, Func<string, T?> parse)
        where T : struct
    {
        var text = section[key];
        if (text is null)
        {
            return;
        }

        set(parse(text.Trim()) ?? throw Invalid(section, key, text, typeof(T)));
    }

    private static void ReadNullable<T>(IConfiguration section, string key, Action<T?> set, Func<string, T?> parse)
        where T : struct
    {
        var text = section[key];
        if (text is null)
        {
            return;
        }

        // An empty value clears the setting, as the configuration binder does for a nullable property.
        set(text.Length == 0 ? null : parse(text.Trim()) ?? throw Invalid(section, key, text, typeof(T)));
    }

    private static InvalidOperationException Invalid(IConfiguration section, string key, string text, Type type)
    {
        var path = section is IConfigurationSection s ? ConfigurationPath.Combine(s.Path, key) : key;
        return new InvalidOperationException($"Failed to convert configuration value '{text}' at '{path}' to type '{type.FullName}'.");
    }
}
