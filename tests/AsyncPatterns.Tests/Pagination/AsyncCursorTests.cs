using System.Data;
using System.Data.Common;
using AsyncPatterns.Pagination;

namespace AsyncPatterns.Tests.Pagination;

public sealed class AsyncCursorTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static DataTable Table(int rows)
    {
        var table = new DataTable();
        table.Columns.Add("id", typeof(int));
        for (var i = 1; i <= rows; i++)
        {
            table.Rows.Add(i);
        }

        return table;
    }

    [Theory]
    [InlineData(10, 3, new[] { 3, 3, 3, 1 })]
    [InlineData(9, 3, new[] { 3, 3, 3 })]
    [InlineData(0, 3, new int[0])]
    public async Task ReadBatches_Reader_YieldsRowsInBatches(int rows, int batchSize, int[] expectedSizes)
    {
        using var table = Table(rows);
        using DbDataReader reader = table.CreateDataReader();

        var batches = await AsyncCursor.ReadBatches(reader, r => r.GetInt32(0), batchSize, Ct).CollectAsync(Ct);

        batches.Select(b => b.Count).Should().Equal(expectedSizes);
        batches.SelectMany(b => b).Should().Equal(Enumerable.Range(1, rows));
    }

    [Fact]
    public async Task ReadBatches_Cancelled_ThrowsWithTheCallerToken()
    {
        using var table = Table(10);
        using DbDataReader reader = table.CreateDataReader();
        using var cts = new CancellationTokenSource();
        var seen = 0;

        var act = async () =>
        {
            await foreach (var batch in AsyncCursor.ReadBatches(reader, r => r.GetInt32(0), 2).WithCancellation(cts.Token))
            {
                seen += batch.Count;
                await cts.CancelAsync();
            }
        };

        (await act.Should().ThrowAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(cts.Token);
        seen.Should().Be(2);
    }

    [Fact]
    public async Task ReadKeysetBatches_Source_YieldsEveryRowOnceAndSkipsEmptyBatches()
    {
        var afterKeys = new List<int>();
        var batches = await AsyncCursor.ReadKeysetBatches<int, int>(
            (after, limit, _) =>
            {
                afterKeys.Add(after);
                return Task.FromResult<IReadOnlyList<int>>([.. Enumerable.Range(after + 1, Math.Max(0, Math.Min(limit, 6 - after)))]);
            },
            key => key,
            0,
            3,
            prefetch: 1).CollectAsync(Ct);

        batches.SelectMany(b => b).Should().Equal(1, 2, 3, 4, 5, 6);
        batches.Should().HaveCount(2);
        afterKeys.Should().Equal(0, 3, 6);
    }

    [Fact]
    public void ReadBatches_BadArguments_Throw()
    {
        using var table = Table(1);
        using DbDataReader reader = table.CreateDataReader();

        FluentActions.Invoking(() => AsyncCursor.ReadBatches((DbDataReader)null!, r => 1, 1)).Should().Throw<ArgumentNullException>().WithParameterName("reader");
        FluentActions.Invoking(() => AsyncCursor.ReadBatches((DbCommand)null!, r => 1, 1)).Should().Throw<ArgumentNullException>().WithParameterName("command");
        FluentActions.Invoking(() => AsyncCursor.ReadBatches<int>(reader, null!, 1)).Should().Throw<ArgumentNullException>().WithParameterName("map");
        FluentActions.Invoking(() => AsyncCursor.ReadBatches(reader, r => 1, 0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("batchSize");
        FluentActions.Invoking(() => AsyncCursor.ReadKeysetBatches<int, int>((_, _, _) => Task.FromResult<IReadOnlyList<int>>([]), k => k, 0, 0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("batchSize");
        FluentActions.Invoking(() => AsyncCursor.ReadKeysetBatches<int, int>((_, _, _) => Task.FromResult<IReadOnlyList<int>>([]), k => k, 0, 1, -1)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("prefetch");
        FluentActions.Invoking(() => AsyncCursor.ReadKeysetBatches<int, int>(null!, k => k, 0, 1)).Should().Throw<ArgumentNullException>().WithParameterName("fetchAfter");
        FluentActions.Invoking(() => AsyncCursor.ReadKeysetBatches<int, int>((_, _, _) => Task.FromResult<IReadOnlyList<int>>([]), null!, 0, 1)).Should().Throw<ArgumentNullException>().WithParameterName("keySelector");
    }
    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void ReadBatches_CommandWithBatchSizeBelowOne_ThrowsAtTheCallWithoutOpeningTheConnection(int batchSize)
    {
        using var connection = new AsyncPatterns.Tests.Connections.FakeDbConnection();
        using var command = connection.CreateCommand();

        var act = () => AsyncCursor.ReadBatches(command, r => 1, batchSize, Ct);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(batchSize));
        connection.OpenCount.Should().Be(0);
    }
    [Fact]
    public async Task ReadBatches_CommandOnAClosedConnection_OpensItWhenEnumeratedAndClosesItAndTheReaderAfter()
    {
        using var table = Table(5);
        using var connection = new TableDbConnection(table);
        using var command = connection.CreateBoundCommand();

        var batches = AsyncCursor.ReadBatches(command, r => r.GetInt32(0), 2, Ct);
        connection.OpenCount.Should().Be(0, "nothing runs before the enumeration starts");
        var read = await batches.CollectAsync(Ct);

        read.Select(b => b.ToArray()).Should().BeEquivalentTo(new[] { new[] { 1, 2 }, [3, 4], [5] }, o => o.WithStrictOrdering());
        connection.OpenCount.Should().Be(1);
        connection.CloseCount.Should().Be(1);
        connection.State.Should().Be(ConnectionState.Closed);
        connection.LastReader!.IsClosed.Should().BeTrue();
    }

    [Fact]
    public async Task ReadBatches_CommandOnAnOpenConnection_LeavesItOpenAndDisposesTheReader()
    {
        using var table = Table(3);
        using var connection = new TableDbConnection(table);
        await connection.OpenAsync(Ct);
        using var command = connection.CreateBoundCommand();

        var read = await AsyncCursor.ReadBatches(command, r => r.GetInt32(0), 2, Ct).CollectAsync(Ct);

        read.SelectMany(b => b).Should().Equal(1, 2, 3);
        connection.OpenCount.Should().Be(1, "only the test opened it");
        connection.CloseCount.Should().Be(0);
        connection.State.Should().Be(ConnectionState.Open);
        connection.LastReader!.IsClosed.Should().BeTrue();
    }

    [Fact]
    public async Task ReadBatches_CommandEnumerationLeftAfterTheFirstBatch_ClosesTheConnectionItOpenedAndTheReader()
    {
        using var table = Table(10);
        using var connection = new TableDbConnection(table);
        using var command = connection.CreateBoundCommand();
        var first = new List<int>();

        await foreach (var batch in AsyncCursor.ReadBatches(command, r => r.GetInt32(0), 3, Ct))
        {
            first.AddRange(batch);
            break;
        }

        first.Should().Equal(1, 2, 3);
        connection.CloseCount.Should().Be(1);
        connection.State.Should().Be(ConnectionState.Closed);
        connection.LastReader!.IsClosed.Should().BeTrue();
    }

    [Fact]
    public async Task ReadBatches_CommandWithoutAConnection_ThrowsInvalidOperationExceptionWhenEnumerated()
    {
        using var table = Table(1);
        using var connection = new TableDbConnection(table);
        using var command = connection.CreateCommand();

        var batches = AsyncCursor.ReadBatches(command, r => r.GetInt32(0), 1, Ct);
        var act = async () => await batches.CollectAsync(Ct);

        await act.Should().ThrowAsync<InvalidOperationException>();
        connection.OpenCount.Should().Be(0);
    }
}
