namespace AsyncPatterns.IntegrationTests.Samples;

/// <summary>samples/Connections: DbConnectionPool over SQLite, at most 3 connections for 200 concurrent queries.</summary>
[Collection(SamplesCollection.Name)]
public sealed class ConnectionsSampleTests(ConnectionsSampleTests.Sample sample) : IClassFixture<ConnectionsSampleTests.Sample>
{
    public sealed class Sample() : SampleFixture("Connections");

    [Fact]
    public void Run_OneQuery_ReturnsEveryUserAndTheConnectionGoesBackOpen()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        run.ExitCode.Should().Be(0);
        var one = run.Section(1);
        one.Line(@"^   users: Ada, Grace, Linus, Barbara$");
        one.Line(@"^   pool: Idle=1 Busy=0 ");
    }

    [Fact]
    public void Run_TwoHundredConcurrentQueries_ShareThreeConnections()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        var many = run.Section(2);
        many.Line(@"^   200 queries, each returned 4 users; 3 connections opened$");
        many.Line(@"^   pool: Idle=3 Busy=0 .* TotalCreated=3 ");
    }

    [Fact]
    public void Run_QueryThatFails_TheConnectionIsGivenBackAnyway()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        var failing = run.Section(3);
        failing.Line(@"^   failed: SQLite Error 1: 'no such table: no_such_table'\.$");
        failing.Line(@"^   pool: Idle=\d+ Busy=0 ");
    }

    [Fact]
    public void Run_DisposingThePool_ClosesEveryConnection()
    {
        var run = sample.Run;

        using var scope = run.Scope();
        var dispose = run.Section(4);
        var counts = dispose.Line(@"^   (?<opened>\d+) connections opened, (?<closed>\d+) closed$");
        SampleRun.Int(counts, "opened").Should().BePositive();
        SampleRun.Int(counts, "closed").Should().Be(SampleRun.Int(counts, "opened"), "every connection was closed");
        dispose.Line(@"^   pool: Idle=0 Busy=0 ");
    }
}
