using System.Threading.RateLimiting;

namespace AsyncPatterns.Redis.Internal;

/// <summary>A failed lease, with <see cref="MetadataName.RetryAfter"/> when the wait is known and <see cref="MetadataName.ReasonPhrase"/> when Redis failed.</summary>
internal sealed class RejectedLease : RateLimitLease
{
    public static readonly RejectedLease WithoutMetadata = new(null, null);

    private readonly TimeSpan? _retryAfter;
    private readonly string? _reason;

    public RejectedLease(TimeSpan? retryAfter, string? reason)
    {
        _retryAfter = retryAfter;
        _reason = reason;
    }

    public override bool IsAcquired => false;

    public override IEnumerable<string> MetadataNames
    {
        get
        {
            if (_retryAfter is not null)
            {
                yield return MetadataName.RetryAfter.Name;
            }

            if (_reason is not null)
            {
                yield return MetadataName.ReasonPhrase.Name;
            }
        }
    }

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        if (_retryAfter is { } retryAfter && metadataName == MetadataName.RetryAfter.Name)
        {
            metadata = retryAfter;
            return true;
        }

        if (_reason is not null && metadataName == MetadataName.ReasonPhrase.Name)
        {
            metadata = _reason;
            return true;
        }

        metadata = null;
        return false;
    }
}

/// <summary>A concurrency permit held in Redis: renewed while held, released exactly once when disposed.</summary>
internal sealed class RedisLease : RateLimitLease
{
    private RedisLimiterCore? _owner;

    public RedisLease(RedisLimiterCore owner, string member, int count)
    {
        _owner = owner;
        Member = member;
        Count = count;
    }

    /// <summary>The lease's member in the sorted set of held leases: <c>count:id</c>.</summary>
    public string Member { get; }

    public int Count { get; }

    public override bool IsAcquired => true;

    public override IEnumerable<string> MetadataNames => [];

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        metadata = null;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        Interlocked.Exchange(ref _owner, null)?.Release(this);
        base.Dispose(disposing);
    }
}

/// <summary>A lease of the local failover limiter, marked with a <see cref="MetadataName.ReasonPhrase"/>; disposing it disposes the local lease.</summary>
internal sealed class FailoverLease : RateLimitLease
{
    private static readonly string[] s_names = [MetadataName.ReasonPhrase.Name];

    private readonly string _reason;
    private RateLimitLease? _inner;

    public FailoverLease(RateLimitLease inner, string reason)
    {
        _inner = inner;
        _reason = reason;
    }

    public override bool IsAcquired => true;

    public override IEnumerable<string> MetadataNames => s_names;

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        if (metadataName == MetadataName.ReasonPhrase.Name)
        {
            metadata = _reason;
            return true;
        }

        metadata = null;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        Interlocked.Exchange(ref _inner, null)?.Dispose();
        base.Dispose(disposing);
    }
}
