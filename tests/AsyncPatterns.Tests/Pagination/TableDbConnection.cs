using System.Data;
using System.Data.Common;
using System.Diagnostics.CodeAnalysis;

namespace AsyncPatterns.Tests.Pagination;

/// <summary>An ADO.NET connection whose commands read a <see cref="DataTable"/>; it counts opens and closes and keeps the last reader.</summary>
internal sealed class TableDbConnection(DataTable table) : DbConnection
{
    private ConnectionState _state = ConnectionState.Closed;

    public int OpenCount { get; private set; }

    public int CloseCount { get; private set; }

    public DbDataReader? LastReader { get; private set; }

    [AllowNull]
    public override string ConnectionString { get; set; } = string.Empty;

    public override string Database => "table";

    public override string DataSource => "table";

    public override string ServerVersion => "1.0";

    public override ConnectionState State => _state;

    public override void ChangeDatabase(string databaseName) => throw new NotSupportedException();

    public override void Open()
    {
        OpenCount++;
        _state = ConnectionState.Open;
    }

    public override void Close()
    {
        CloseCount++;
        _state = ConnectionState.Closed;
    }

    public DbCommand CreateBoundCommand()
    {
        var command = CreateCommand();
        command.Connection = this;
        return command;
    }

    protected override DbTransaction BeginDbTransaction(IsolationLevel isolationLevel) => throw new NotSupportedException();

    protected override DbCommand CreateDbCommand() => new TableDbCommand(this);

    private DbDataReader Read()
    {
        if (_state != ConnectionState.Open)
        {
            throw new InvalidOperationException("The connection is not open.");
        }

        LastReader = table.CreateDataReader();
        return LastReader;
    }

    private sealed class TableDbCommand(TableDbConnection owner) : DbCommand
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

        public override int ExecuteNonQuery() => throw new NotSupportedException();

        public override object? ExecuteScalar() => throw new NotSupportedException();

        public override void Prepare()
        {
        }

        protected override DbParameter CreateDbParameter() => throw new NotSupportedException();

        protected override DbDataReader ExecuteDbDataReader(CommandBehavior behavior) => owner.Read();
    }
}
