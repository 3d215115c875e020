using System.Threading.RateLimiting;

namespace AsyncPatterns.RateLimiting.Internal;

/// <summary>A failed lease, with the <see cref="MetadataName.RetryAfter"/> metadata when the wait is known.</summary>
internal sealed class FailedLease : RateLimitLease
{
    public static readonly FailedLease WithoutRetryAfter = new(null);

    private static readonly string[] s_retryAfterName = [MetadataName.RetryAfter.Name];

    private readonly TimeSpan? _retryAfter;

    public FailedLease(TimeSpan? retryAfter) => _retryAfter = retryAfter;

    public override bool IsAcquired => false;

    public override IEnumerable<string> MetadataNames => _retryAfter is null ? [] : s_retryAfterName;

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        if (_retryAfter is { } retryAfter && metadataName == MetadataName.RetryAfter.Name)
        {
            metadata = retryAfter;
            return true;
        }

        metadata = null;
        return false;
    }
}

/// <summary>A successful lease that gives its concurrency permits back, exactly once, when disposed.</summary>
internal sealed class ConcurrencyLease : RateLimitLease
{
    private LimiterCore? _owner;
    private readonly int _count;

    public ConcurrencyLease(LimiterCore owner, int count)
    {
        _owner = owner;
        _count = count;
    }

    public override bool IsAcquired => true;

    public override IEnumerable<string> MetadataNames => [];

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        metadata = null;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        Interlocked.Exchange(ref _owner, null)?.Release(_count);
        base.Dispose(disposing);
    }
}
