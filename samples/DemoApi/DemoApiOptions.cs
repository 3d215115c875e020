namespace AsyncPatterns.Samples.DemoApi;

/// <summary>How a <see cref="DemoApiServer"/> behaves: its data set, its speed and how often it misbehaves.</summary>
/// <remarks>
/// Failures and 429s are drawn from one <see cref="Random"/> seeded with <see cref="Seed"/>, one draw per faulty-eligible
/// request in arrival order: for a given seed, the n-th such request always gets the same outcome, and any N requests
/// get the same number of failures and 429s.
/// </remarks>
public sealed class DemoApiOptions
{
    /// <summary>The TCP port on 127.0.0.1.</summary>
    /// <value>0: an ephemeral port chosen by the system (read it from <see cref="DemoApiServer.BaseAddress"/>).</value>
    public int Port { get; set; }

    /// <summary>The number of items, with ids from 1 to <see cref="ItemCount"/>.</summary>
    /// <value>250.</value>
    public int ItemCount { get; set; } = 250;

    /// <summary>The number of users, with ids from 1 to <see cref="UserCount"/>.</summary>
    /// <value>20.</value>
    public int UserCount { get; set; } = 20;

    /// <summary>The delay before every data response (not before a 429 or a 503, which real servers send at once).</summary>
    /// <value><see cref="TimeSpan.Zero"/>.</value>
    public TimeSpan Latency { get; set; }

    /// <summary>The probability that a request fails with 500 Internal Server Error.</summary>
    /// <value>0.</value>
    public double FailureRate { get; set; }

    /// <summary>The probability that a request is answered 429 Too Many Requests with a <c>Retry-After</c> header.</summary>
    /// <value>0.</value>
    public double TooManyRequestsRate { get; set; }

    /// <summary>The <c>Retry-After</c> value sent with a 429, in whole seconds.</summary>
    /// <value>1.</value>
    public int RetryAfterSeconds { get; set; } = 1;

    /// <summary>
    /// Whether failures and 429s also hit the list endpoints (<c>/items</c>, <c>/users</c> and the pagination styles),
    /// not only the details endpoints <c>/items/{id}</c> and <c>/users/{id}</c>.
    /// </summary>
    /// <value>false: paging always succeeds, fetching details may not.</value>
    public bool FaultyLists { get; set; }

    /// <summary>
    /// The most requests served at once; a request beyond it is answered 503 Service Unavailable at once.
    /// Null means no limit.
    /// </summary>
    /// <value>null.</value>
    public int? MaxConcurrency { get; set; }

    /// <summary>The random seed of the failure and 429 draws, so every run draws the same.</summary>
    /// <value>12345.</value>
    public int Seed { get; set; } = 12345;

    /// <summary>The clock the latency is measured on (tests pass a fake one).</summary>
    /// <value><see cref="TimeProvider.System"/>.</value>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Throws when a value is out of range; <see cref="DemoApiServer.StartAsync"/> calls it first.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A property is out of range; the message names it.</exception>
    /// <exception cref="ArgumentNullException"><see cref="TimeProvider"/> is null.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(Port, nameof(Port));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Port, 65535, nameof(Port));
        ArgumentOutOfRangeException.ThrowIfNegative(ItemCount, nameof(ItemCount));
        ArgumentOutOfRangeException.ThrowIfNegative(UserCount, nameof(UserCount));
        ArgumentOutOfRangeException.ThrowIfLessThan(Latency, TimeSpan.Zero, nameof(Latency));
        ThrowIfNotProbability(FailureRate, nameof(FailureRate));
        ThrowIfNotProbability(TooManyRequestsRate, nameof(TooManyRequestsRate));
        if (FailureRate + TooManyRequestsRate > 1)
        {
            throw new ArgumentOutOfRangeException(
                nameof(TooManyRequestsRate), TooManyRequestsRate, $"{nameof(FailureRate)} + {nameof(TooManyRequestsRate)} must not exceed 1.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(RetryAfterSeconds, nameof(RetryAfterSeconds));
        if (MaxConcurrency is { } max)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(max, 1, nameof(MaxConcurrency));
        }

        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
    }

    private static void ThrowIfNotProbability(double value, string name)
    {
        if (!(value >= 0 && value <= 1))
        {
            throw new ArgumentOutOfRangeException(name, value, "A probability must be between 0 and 1.");
        }
    }
}
