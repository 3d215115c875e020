namespace AsyncPatterns.Samples.DemoApi;

/// <summary>An item as the list endpoints return it; fetch <c>/items/{id}</c> for its <see cref="ItemDetails"/>.</summary>
/// <param name="Id">The key, from 1 to <see cref="DemoApiOptions.ItemCount"/>.</param>
/// <param name="Name">The name.</param>
/// <param name="Category">The category.</param>
public sealed record ItemSummary(int Id, string Name, string Category);
