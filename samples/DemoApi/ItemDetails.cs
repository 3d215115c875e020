namespace AsyncPatterns.Samples.DemoApi;

/// <summary>An item as <c>GET /items/{id}</c> returns it.</summary>
/// <param name="Id">The key, from 1 to <see cref="DemoApiOptions.ItemCount"/>.</param>
/// <param name="Name">The name.</param>
/// <param name="Category">The category.</param>
/// <param name="Price">The unit price.</param>
/// <param name="Stock">The units in stock.</param>
/// <param name="OwnerId">The <see cref="User.Id"/> of the user who listed it.</param>
/// <param name="Description">A sentence about the item.</param>
/// <param name="Tags">A few tags.</param>
public sealed record ItemDetails(
    int Id, string Name, string Category, decimal Price, int Stock, int OwnerId, string Description, IReadOnlyList<string> Tags);
