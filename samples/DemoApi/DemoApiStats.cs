namespace AsyncPatterns.Samples.DemoApi;

/// <summary>A snapshot of a <see cref="DemoApiServer"/>'s counters, as <c>GET /stats</c> returns it.</summary>
/// <param name="Requests">Requests received.</param>
/// <param name="InFlight">Requests being served now.</param>
/// <param name="PeakInFlight">The most requests ever served at once.</param>
/// <param name="Failures">Requests answered 500 on purpose (<see cref="DemoApiOptions.FailureRate"/>).</param>
/// <param name="TooManyRequests">Requests answered 429 (<see cref="DemoApiOptions.TooManyRequestsRate"/>).</param>
/// <param name="Rejected">Requests answered 503 because <see cref="DemoApiOptions.MaxConcurrency"/> were already in flight.</param>
public sealed record DemoApiStats(int Requests, int InFlight, int PeakInFlight, int Failures, int TooManyRequests, int Rejected);
