namespace AsyncPatterns.Timeouts;

/// <summary>
/// The outcome of <see cref="OperationTimeout.TryRunAsync{T}"/>: either the operation's value, or the fact that the timeout fired.
/// </summary>
/// <typeparam name="T">The type of the operation's value.</typeparam>
public sealed class TimeoutResult<T>
{
    private readonly T _value;

    private TimeoutResult(bool completed, T value, TimeSpan elapsed)
    {
        Completed = completed;
        _value = value;
        Elapsed = elapsed;
    }

    /// <summary>Gets a value indicating whether the operation completed (with a value) before the timeout fired.</summary>
    public bool Completed { get; }

    /// <summary>Gets a value indicating whether the timeout fired first; the opposite of <see cref="Completed"/>.</summary>
    public bool TimedOut => !Completed;

    /// <summary>Gets the time that passed on the timeout's <see cref="TimeProvider"/> until the operation completed or was given up.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>Gets the operation's value.</summary>
    /// <exception cref="InvalidOperationException">The operation timed out, so there is no value (check <see cref="Completed"/> first).</exception>
    public T Value => Completed
        ? _value
        : throw new InvalidOperationException("The operation timed out; there is no value. Check Completed before reading Value.");

    /// <summary>Gets the operation's value when it completed.</summary>
    /// <param name="value">The value, or <see langword="default"/> when the operation timed out.</param>
    /// <returns><see langword="true"/> when the operation completed.</returns>
    public bool TryGetValue(out T value)
    {
        value = _value;
        return Completed;
    }

    internal static TimeoutResult<T> FromValue(T value, TimeSpan elapsed) => new(true, value, elapsed);

    internal static TimeoutResult<T> FromTimeout(TimeSpan elapsed) => new(false, default!, elapsed);
}
