using System.Data.Common;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Shoal.Tracker.Storage;

/// <summary>
/// What differs between the databases the tracker runs on: how to connect, column types, and how concurrent
/// writers and migrations are kept apart. The SQL itself is shared; templates name types as <c>{text}</c>,
/// <c>{blob}</c> and end tables with <c>{table}</c>.
/// </summary>
internal abstract partial class SqlDialect : IAsyncDisposable
{
    public abstract string Description { get; }

    protected abstract string Text { get; }

    protected abstract string Blob { get; }

    protected abstract string TableOptions { get; }

    /// <summary>
    /// Held around every write of this process where the database would make a waiting writer poll and sleep
    /// (SQLite's busy handler): queueing in memory instead keeps latency flat under load.
    /// </summary>
    public virtual SemaphoreSlim? WriteGate => null;

    /// <summary>
    /// A database given as <c>postgres://user:password@host:port/database</c> or as an Npgsql connection string
    /// (<c>Host=…;…</c>) is PostgreSQL; anything else is the path of a SQLite file.
    /// </summary>
    public static SqlDialect For(string database)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(database);
        return PostgresUrl().IsMatch(database) || PostgresConnectionString().IsMatch(database)
            ? new PostgresDialect(database)
            : new SqliteDialect(database);
    }

    public string Sql(string template) =>
        template.Replace("{text}", Text, StringComparison.Ordinal)
            .Replace("{blob}", Blob, StringComparison.Ordinal)
            .Replace("{table}", TableOptions, StringComparison.Ordinal);

    /// <summary>Prepares the database before the schema is migrated (what cannot happen inside a transaction).</summary>
    public virtual Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>A connection from the pool, ready for use.</summary>
    public abstract ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken);

    /// <summary>Keeps other trackers sharing the database out of the schema until <paramref name="transaction"/> ends.</summary>
    public virtual Task LockSchemaAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Housekeeping after each sweep.</summary>
    public virtual Task MaintainAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public abstract ValueTask DisposeAsync();

    [GeneratedRegex("^postgres(ql)?://", RegexOptions.IgnoreCase)]
    private static partial Regex PostgresUrl();

    [GeneratedRegex(@"(^|;)\s*(host|server)\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex PostgresConnectionString();
}

internal sealed class SqliteDialect : SqlDialect
{
    private const int BusyTimeoutMilliseconds = 10_000;

    /// <summary>A log that grew under a burst of writes is cut back to this once it has been copied.</summary>
    private const int JournalSizeLimit = 64 << 20;

    /// <summary>On the system clock, whatever clock the tracker keeps time by: this is disk housekeeping.</summary>
    private static readonly TimeSpan CheckpointInterval = TimeSpan.FromSeconds(1);

    private readonly string _path;
    private readonly string _connectionString;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private Task _checkpoints = Task.CompletedTask;

    public SqliteDialect(string path)
    {
        _path = Path.GetFullPath(path);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = _path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
        }.ToString();
    }

    public override string Description => $"SQLite {_path}";

    protected override string Text => "TEXT";

    protected override string Blob => "BLOB";

    // Every table has a composite text key: clustering rows by it saves the separate index a rowid table needs.
    protected override string TableOptions => " WITHOUT ROWID";

    public override SemaphoreSlim WriteGate => _writeGate;

    public override async Task InitializeAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();

        // Persistent in the file: readers never wait for the writer.
        command.CommandText = "PRAGMA journal_mode = WAL";
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        _checkpoints = Task.Run(CheckpointAsync, CancellationToken.None);
    }

    /// <summary>
    /// Copies the write-ahead log into the database file in the background. SQLite would otherwise do it inside
    /// whichever commit filled the log, and that request would wait for the copy and its fsync: a p99 of tens of
    /// milliseconds where a commit takes a fraction of one. The bulk is copied while writers go on; the rest under
    /// the write gate, so the log is wholly copied and the next writer starts it again from the beginning (a log
    /// never wholly copied grows without end).
    /// </summary>
    private async Task CheckpointAsync()
    {
        using var timer = new PeriodicTimer(CheckpointInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                try
                {
                    await CheckpointOnceAsync().ConfigureAwait(false);
                    await _writeGate.WaitAsync(_stopping.Token).ConfigureAwait(false);
                    try
                    {
                        await CheckpointOnceAsync().ConfigureAwait(false);
                    }
                    finally
                    {
                        _writeGate.Release();
                    }
                }
                catch (SqliteException)
                {
                    // Busy (another process checkpointing) or a passing I/O error: tried again on the next tick.
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Disposing: closing the last connection checkpoints what is left.
        }
    }

    private async Task CheckpointOnceAsync()
    {
        await using var connection = await OpenAsync(_stopping.Token).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA wal_checkpoint(PASSIVE)";
        await command.ExecuteNonQueryAsync(_stopping.Token).ConfigureAwait(false);
    }

    public override async ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var command = connection.CreateCommand();

            // Per connection, and a pooled connection may be new. NORMAL under WAL can lose the last commits on power
            // loss but never corrupts the file; nodes announce again anyway. Checkpoints are CheckpointAsync's.
            command.CommandText = $"PRAGMA busy_timeout = {BusyTimeoutMilliseconds}; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {JournalSizeLimit}";
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _checkpoints.ConfigureAwait(false);

        // Pooled connections keep the file open; closed here so the file can be moved or opened afresh.
        using (var connection = new SqliteConnection(_connectionString)) SqliteConnection.ClearPool(connection);
        _writeGate.Dispose();
        _stopping.Dispose();
    }
}

internal sealed class PostgresDialect : SqlDialect
{
    // Any fixed number works: it only has to be the same for every tracker and unlikely to be used by anything else.
    private const long SchemaLockKey = 0x73686f616c_7472;

    private readonly NpgsqlDataSource _dataSource;

    public PostgresDialect(string database)
    {
        var builder = Parse(database);

        // Servers prepare the tracker's few statements once per connection instead of planning them on every request.
        if (builder.MaxAutoPrepare == 0) builder.MaxAutoPrepare = 32;
        Description = $"PostgreSQL {builder.Host}:{builder.Port}/{builder.Database}";
        _dataSource = NpgsqlDataSource.Create(builder);
    }

    public override string Description { get; }

    // Byte order, not the server's locale: the same answers (order, case) as on SQLite, and cheaper comparisons.
    protected override string Text => "TEXT COLLATE \"C\"";

    protected override string Blob => "BYTEA";

    protected override string TableOptions => "";

    public override async ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    public override async Task LockSchemaAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"SELECT pg_advisory_xact_lock({SchemaLockKey})";
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Autovacuum analyzes a table only once a tenth of it changed, and at most once a minute: a tracker filling up
    /// from empty (or emptied by a sweep) would meanwhile plan on the statistics of a table a fraction of its size,
    /// and a plan that expects one holder where there are thousands costs seconds. Sampling is cheap next to that.
    /// </summary>
    public override async Task MaintainAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "ANALYZE devices, holdings, files";
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private static NpgsqlConnectionStringBuilder Parse(string database)
    {
        if (!database.Contains("://", StringComparison.Ordinal)) return new NpgsqlConnectionStringBuilder(database);
        if (!Uri.TryCreate(database, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
        {
            throw new ArgumentException("the database URL must look like postgres://user:password@host:port/database", nameof(database));
        }

        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host.Trim('[', ']'),
            Port = uri.Port > 0 ? uri.Port : 5432,
            Database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/')),
        };
        if (uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            builder.Username = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            if (colon >= 0) builder.Password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
        }

        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(equals < 0 ? pair : pair[..equals]);
            try
            {
                builder[key] = equals < 0 ? "true" : Uri.UnescapeDataString(pair[(equals + 1)..]);
            }
            catch (ArgumentException)
            {
                throw new ArgumentException($"the database URL has an unknown parameter '{key}'", nameof(database));
            }
        }

        return builder;
    }
}
