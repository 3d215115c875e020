using System.Data;
using System.Data.Common;
using System.Diagnostics.CodeAnalysis;

namespace AsyncPatterns.Tests.Connections;

/// <summary>An ADO.NET connection that records opens, disposal and the commands it ran; a test can make it fail to open or to run a command.</summary>
internal sealed class FakeDbConnection : DbConnection
{
    private ConnectionState _state = ConnectionState.Closed;

    public Exception? OpenError { get; set; }

    public Exception? CommandError { get; set; }

    public List<string> Executed { get; } = [];

    public int OpenCount { get; private set; }

    public int DisposeCount { get; private set; }

    [AllowNull]
    public override string ConnectionString { get; set; } = string.Empty;

    public override string Database => "fake";

    public override string DataSource => "fake";

    public override string ServerVersion => "1.0";

    public override ConnectionState State => _state;

    public void Break() => _state = ConnectionState.Broken;

    public override void ChangeDatabase(string databaseName) => throw new NotSupportedException();

    public override void Open()
    {
        OpenCount++;
        if (OpenError is not null)
        {
            throw OpenError;
        }

        _state = ConnectionState.Open;
    }

    public override void Close() => _state = ConnectionState.Closed;

    protected override DbTransaction BeginDbTransaction(IsolationLevel isolationLevel) => throw new NotSupportedException();

    protected override DbCommand CreateDbCommand() => new FakeDbCommand(this);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            DisposeCount++;
            _state = ConnectionState.Closed;
        }

        base.Dispose(disposing);
    }

    private sealed class FakeDbCommand(FakeDbConnection connection) : DbCommand
    {
        [AllowNull]
        public override string CommandText { get; set; } = string.Empty;

        public override int CommandTimeout { get; set; }

        public override CommandType CommandType { get; set; }

        public override bool DesignTimeVisible { get; set; }

        public override UpdateRowSource UpdatedRowSource { get; set; }

        protected override DbConnection? DbConnection { get; set; }

        protected override DbParameterCollection DbParameterCollection => throw new NotSupportedException();

        protected override DbTransaction? DbTransaction { get; set; }

        public override void Cancel()
        {
        }

        public override int ExecuteNonQuery()
        {
            ExecuteScalar();
            return 1;
        }

        public override object? ExecuteScalar()
        {
            connection.Executed.Add(CommandText);
            if (connection.CommandError is not null)
            {
                throw connection.CommandError;
            }

            return 1L;
        }

        public override void Prepare()
        {
        }

        protected override DbParameter CreateDbParameter() => throw new NotSupportedException();

        protected override DbDataReader ExecuteDbDataReader(CommandBehavior behavior) => throw new NotSupportedException();
    }
}
