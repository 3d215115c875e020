using Microsoft.Extensions.Options;

namespace AsyncPatterns.Http.Internal;

/// <summary>
/// Validates named <see cref="FetchOptions"/> at host start with the fetcher constructor's own check
/// (<see cref="FetchOptions.Snapshot"/>, which also validates the nested retry options by building their pipeline).
/// </summary>
internal sealed class FetchOptionsValidator : IValidateOptions<FetchOptions>
{
    public ValidateOptionsResult Validate(string? name, FetchOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            _ = options.Snapshot();
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException ex)
        {
            return ValidateOptionsResult.Fail($"FetchOptions '{name}': {ex.Message}");
        }
    }
}
