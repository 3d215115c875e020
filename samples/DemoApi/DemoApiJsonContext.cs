using System.Text.Json;
using System.Text.Json.Serialization;

namespace AsyncPatterns.Samples.DemoApi;

/// <summary>
/// The source-generated JSON metadata of every type the demo API sends (camelCase, as web APIs do). Clients can use
/// it too, e.g. <c>ReadFromJsonAsync(DemoApiJsonContext.Default.ItemDetails)</c>: no reflection, safe to trim.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(User))]
[JsonSerializable(typeof(IReadOnlyList<User>))]
[JsonSerializable(typeof(ItemSummary))]
[JsonSerializable(typeof(IReadOnlyList<ItemSummary>))]
[JsonSerializable(typeof(ItemDetails))]
[JsonSerializable(typeof(CursorPage))]
[JsonSerializable(typeof(ApiError))]
[JsonSerializable(typeof(DemoApiStats))]
public sealed partial class DemoApiJsonContext : JsonSerializerContext;
