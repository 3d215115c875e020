namespace AsyncPatterns.Samples.DemoApi;

/// <summary>A user of the demo API.</summary>
/// <param name="Id">The key, from 1 to <see cref="DemoApiOptions.UserCount"/>.</param>
/// <param name="Name">The display name.</param>
/// <param name="Email">The e-mail address (on the reserved <c>example.com</c> domain).</param>
public sealed record User(int Id, string Name, string Email);
