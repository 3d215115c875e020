using System.Globalization;

namespace AsyncPatterns.Samples.DemoApi;

/// <summary>The data set: every user and item is derived from its id, so every server serves the same data.</summary>
internal static class DemoData
{
    private static readonly string[] s_adjectives = ["Amber", "Brisk", "Cobalt", "Dusty", "Electric", "Frosted", "Golden", "Hollow", "Ivory", "Jade"];
    private static readonly string[] s_nouns = ["Lamp", "Kettle", "Backpack", "Notebook", "Headphones", "Mug", "Chair", "Clock", "Plant", "Scarf", "Umbrella"];
    private static readonly string[] s_categories = ["home", "kitchen", "outdoors", "office", "audio", "garden"];
    private static readonly string[] s_firstNames = ["Ada", "Grace", "Linus", "Barbara", "Dennis", "Frances", "Ken", "Margaret", "Alan", "Radia"];
    private static readonly string[] s_lastNames = ["Lovelace", "Hopper", "Torvalds", "Liskov", "Ritchie", "Allen", "Thompson", "Hamilton", "Turing", "Perlman"];

    public static User CreateUser(int id)
    {
        var first = s_firstNames[(id - 1) % s_firstNames.Length];
        var last = s_lastNames[((id - 1) / s_firstNames.Length + id - 1) % s_lastNames.Length];
        var email = string.Create(CultureInfo.InvariantCulture, $"{first}.{last}{id}@example.com").ToLowerInvariant();
        return new User(id, first + " " + last, email);
    }

    public static ItemSummary CreateItemSummary(int id) =>
        new(id, ItemName(id), s_categories[id % s_categories.Length]);

    public static ItemDetails CreateItemDetails(int id, int userCount)
    {
        var summary = CreateItemSummary(id);
        var price = 5m + (id * 7919 % 20000) / 100m;
        var stock = id * 37 % 120;
        var ownerId = userCount == 0 ? 0 : (id - 1) % userCount + 1;
        var description = string.Create(
            CultureInfo.InvariantCulture, $"{summary.Name} from the {summary.Category} range, listed by user {ownerId}.");
        string[] tags = [summary.Category, price < 50m ? "budget" : "premium", stock == 0 ? "sold-out" : "in-stock"];
        return new ItemDetails(id, summary.Name, summary.Category, price, stock, ownerId, description, tags);
    }

    private static string ItemName(int id) =>
        s_adjectives[id % s_adjectives.Length] + " " + s_nouns[id / s_adjectives.Length % s_nouns.Length];
}
