namespace AsyncPatterns.Samples.DemoApi;

/// <summary>A page of <c>GET /items/cursor</c>.</summary>
/// <param name="Items">The items of the page.</param>
/// <param name="NextCursor">The opaque cursor of the next page; null on the last page.</param>
public sealed record CursorPage(IReadOnlyList<ItemSummary> Items, string? NextCursor);
