namespace AsyncPatterns.Samples.DemoApi;

/// <summary>The JSON body of an error response.</summary>
/// <param name="Status">The HTTP status code.</param>
/// <param name="Error">What went wrong.</param>
public sealed record ApiError(int Status, string Error);
