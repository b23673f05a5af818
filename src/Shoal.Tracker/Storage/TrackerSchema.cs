using System.Data.Common;
using System.Globalization;

namespace Shoal.Tracker.Storage;

/// <summary>
/// The schema as an ordered list of steps, each recorded in <c>schema_version</c> when applied. Steps are append-only:
/// a released step never changes; a new version is a new step at the end. Times are unix milliseconds.
/// </summary>
internal static class TrackerSchema
{
    private const string VersionTable = """
        CREATE TABLE IF NOT EXISTS schema_version (
            version INTEGER NOT NULL PRIMARY KEY,
            applied_at BIGINT NOT NULL
        )
        """;

    // Keys lead with their most selective column, so that SQLite, which plans without statistics, never mistakes a
    // scan of a whole network for a lookup: holdings are found by file (who holds it), by device (its announces and
    // expiry) and, for the file list, by network in name order. name_key is the name folded to lower case by .NET,
    // so search ignores case for all of Unicode and answers the same on every database (SQLite's LIKE folds ASCII
    // only). Addresses are joined by spaces, which none contains.
    private const string V1 = """
        CREATE TABLE devices (
            network {text} NOT NULL,
            device {text} NOT NULL,
            name {text} NOT NULL,
            addresses {text} NOT NULL,
            registered_at BIGINT NOT NULL,
            last_seen BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            PRIMARY KEY (network, device)
        ){table};

        CREATE INDEX devices_expiry ON devices (expires_at);
        CREATE INDEX devices_seen ON devices (network, last_seen, device);

        CREATE TABLE holdings (
            network {text} NOT NULL,
            file {text} NOT NULL,
            device {text} NOT NULL,
            name {text} NOT NULL,
            name_key {text} NOT NULL,
            size BIGINT NOT NULL,
            chunk_count INTEGER NOT NULL,
            chunks {blob} NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (file, network, device)
        ){table};

        CREATE INDEX holdings_device ON holdings (device, network);
        CREATE INDEX holdings_name ON holdings (network, name_key);

        CREATE TABLE nonces (
            device {text} NOT NULL,
            nonce {text} NOT NULL,
            expires_at BIGINT NOT NULL,
            PRIMARY KEY (device, nonce)
        ){table};

        CREATE INDEX nonces_expiry ON nonces (expires_at);
        """;

    // The file list searched per distinct file and name rather than per holding: a substring search cannot use an
    // index, so its cost is the rows it scans. A row stands for the name some holder announced the file under; the
    // holdings say whether any live one still does, so a row outlives its holders only until the sweeper deletes it.
    // The holdings' name index served only that search.
    private const string V2 = """
        CREATE TABLE files (
            network {text} NOT NULL,
            file {text} NOT NULL,
            name_key {text} NOT NULL,
            name {text} NOT NULL,
            size BIGINT NOT NULL,
            chunk_count INTEGER NOT NULL,
            PRIMARY KEY (network, file, name_key)
        ){table};

        CREATE INDEX files_name ON files (network, name_key);

        INSERT INTO files (network, file, name_key, name, size, chunk_count)
        SELECT network, file, name_key, MIN(name), MIN(size), MIN(chunk_count) FROM holdings GROUP BY network, file, name_key;

        DROP INDEX holdings_name;
        """;

    private static readonly string[] Steps = [V1, V2];

    public static int Version => Steps.Length;

    /// <summary>Applies the missing steps in one transaction; trackers starting together on one database take turns.</summary>
    public static Task MigrateAsync(SqlDialect dialect, TimeProvider time, CancellationToken cancellationToken) =>
        MigrateAsync(dialect, time, Steps.Length, cancellationToken);

    /// <summary>Applies the missing steps up to <paramref name="target"/>: a database as an older tracker left it.</summary>
    public static async Task MigrateAsync(SqlDialect dialect, TimeProvider time, int target, CancellationToken cancellationToken)
    {
        await using var connection = await dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await dialect.LockSchemaAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, transaction, VersionTable, cancellationToken).ConfigureAwait(false);
        var applied = await ReadVersionAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
        if (applied > Steps.Length)
        {
            throw new NotSupportedException(
                $"the tracker database ({dialect.Description}) has schema version {applied}, newer than this tracker supports ({Steps.Length}): use a newer Shoal");
        }

        for (var version = applied + 1; version <= target; version++)
        {
            await ExecuteAsync(connection, transaction, dialect.Sql(Steps[version - 1]), cancellationToken).ConfigureAwait(false);
            var at = time.GetUtcNow().ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
            await ExecuteAsync(connection, transaction, $"INSERT INTO schema_version (version, applied_at) VALUES ({version}, {at})", cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    public static async Task<int> ReadVersionAsync(DbConnection connection, DbTransaction? transaction, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT COALESCE(MAX(version), 0) FROM schema_version";
        return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    private static async Task ExecuteAsync(DbConnection connection, DbTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
