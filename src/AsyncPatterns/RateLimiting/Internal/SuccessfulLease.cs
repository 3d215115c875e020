using System.Threading.RateLimiting;

namespace AsyncPatterns.RateLimiting.Internal;

/// <summary>A lease that holds nothing to give back: shared by every successful acquire that needs no release
/// (compiled into AsyncPatterns.Redis too).</summary>
internal sealed class SuccessfulLease : RateLimitLease
{
    public static readonly SuccessfulLease Instance = new();

    private SuccessfulLease()
    {
    }

    public override bool IsAcquired => true;

    public override IEnumerable<string> MetadataNames => [];

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        metadata = null;
        return false;
    }
}
