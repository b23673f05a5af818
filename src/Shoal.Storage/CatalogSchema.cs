using Microsoft.Data.Sqlite;

namespace Shoal.Storage;

/// <summary>
/// The catalog's schema as an ordered list of steps: step i takes PRAGMA user_version from i to i + 1.
/// Steps are append-only; a released step never changes, a new version is a new step at the end.
/// </summary>
internal static class CatalogSchema
{
    // Manifests are shared by local files and downloads and kept while either refers to them. Downloads do not
    // reference them by key because a download started from a link exists before its manifest is fetched.
    private const string V1 = """
        CREATE TABLE manifests (
            file_id BLOB NOT NULL PRIMARY KEY,
            data BLOB NOT NULL
        );

        CREATE TABLE local_files (
            file_id BLOB NOT NULL PRIMARY KEY REFERENCES manifests (file_id),
            name TEXT NOT NULL,
            size INTEGER NOT NULL,
            path TEXT NOT NULL,
            last_write_ticks INTEGER NOT NULL,
            kind INTEGER NOT NULL,
            added_ticks INTEGER NOT NULL
        );

        CREATE INDEX local_files_path ON local_files (path);

        CREATE TABLE downloads (
            file_id BLOB NOT NULL PRIMARY KEY,
            name TEXT NOT NULL,
            size INTEGER NOT NULL,
            target_directory TEXT NOT NULL,
            partial_path TEXT NOT NULL,
            status INTEGER NOT NULL,
            created_ticks INTEGER NOT NULL,
            final_path TEXT,
            error TEXT
        );

        CREATE TABLE download_chunks (
            file_id BLOB NOT NULL REFERENCES downloads (file_id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            PRIMARY KEY (file_id, idx)
        ) WITHOUT ROWID;

        CREATE TABLE peers (
            device_id BLOB NOT NULL PRIMARY KEY,
            name TEXT NOT NULL,
            addresses TEXT NOT NULL,
            last_seen_ticks INTEGER NOT NULL
        );

        CREATE TABLE peer_files (
            device_id BLOB NOT NULL,
            file_id BLOB NOT NULL,
            name TEXT NOT NULL,
            size INTEGER NOT NULL,
            chunk_count INTEGER NOT NULL,
            chunks BLOB,
            PRIMARY KEY (device_id, file_id)
        );

        CREATE INDEX peer_files_file ON peer_files (file_id);

        CREATE TABLE settings (
            key TEXT NOT NULL PRIMARY KEY,
            value TEXT NOT NULL
        ) WITHOUT ROWID;
        """;

    /// <summary>v2: devices removed from the network, refused by every member from then on.</summary>
    private const string V2 = """
        CREATE TABLE revoked_devices (
            device_id BLOB NOT NULL PRIMARY KEY,
            revoked_ticks INTEGER NOT NULL
        ) WITHOUT ROWID;
        """;

    /// <summary>
    /// v3: the synced folder's index, this node's own and what each peer holds. A record carries its manifest so the
    /// folder needs nothing from (and never keeps alive anything in) the manifests table. The content indexes are
    /// partial, over live files only (kind 0 is a file), because only those are looked up by content.
    /// </summary>
    private const string V3 = """
        CREATE TABLE folder_local (
            path TEXT NOT NULL PRIMARY KEY,
            kind INTEGER NOT NULL,
            deleted INTEGER NOT NULL,
            size INTEGER NOT NULL,
            modified_ns INTEGER NOT NULL,
            permissions INTEGER NOT NULL,
            modified_by BLOB NOT NULL,
            version BLOB NOT NULL,
            sequence INTEGER NOT NULL UNIQUE,
            content BLOB NOT NULL,
            manifest BLOB,
            inode INTEGER NOT NULL
        );

        CREATE INDEX folder_local_content ON folder_local (content) WHERE deleted = 0 AND kind = 0;

        CREATE TABLE folder_remote (
            device BLOB NOT NULL,
            path TEXT NOT NULL,
            kind INTEGER NOT NULL,
            deleted INTEGER NOT NULL,
            size INTEGER NOT NULL,
            modified_ns INTEGER NOT NULL,
            permissions INTEGER NOT NULL,
            modified_by BLOB NOT NULL,
            version BLOB NOT NULL,
            sequence INTEGER NOT NULL,
            content BLOB NOT NULL,
            manifest BLOB,
            PRIMARY KEY (device, path)
        ) WITHOUT ROWID;

        CREATE INDEX folder_remote_path ON folder_remote (path);

        CREATE INDEX folder_remote_content ON folder_remote (content) WHERE deleted = 0 AND kind = 0;

        CREATE TABLE folder_remote_state (
            device BLOB NOT NULL PRIMARY KEY,
            epoch INTEGER NOT NULL,
            sequence INTEGER NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE folder_events (
            id INTEGER PRIMARY KEY,
            time_ticks INTEGER NOT NULL,
            path TEXT NOT NULL,
            device BLOB NOT NULL,
            device_name TEXT NOT NULL,
            kind INTEGER NOT NULL,
            detail TEXT NOT NULL
        );
        """;

    /// <summary>
    /// Version 4: files stored into the network (put). One row per file, tombstones included, so that a node that was
    /// offline during an rm learns it instead of bringing the file back. The newest (updated_ticks, updated_by) wins.
    /// </summary>
    private const string V4 = """
        CREATE TABLE put_files (
            file_id BLOB NOT NULL PRIMARY KEY,
            name TEXT NOT NULL,
            size INTEGER NOT NULL,
            chunk_count INTEGER NOT NULL,
            replicas INTEGER NOT NULL,
            updated_ticks INTEGER NOT NULL,
            updated_by BLOB NOT NULL,
            deleted INTEGER NOT NULL
        ) WITHOUT ROWID;
        """;

    public static readonly IReadOnlyList<string> Migrations = [V1, V2, V3, V4];

    public static void Migrate(SqliteConnection connection)
    {
        for (var version = ReadVersion(connection, null); version < Migrations.Count;)
        {
            using var transaction = connection.BeginTransaction(deferred: false);

            // Read again under the write lock: another process opening the same home may have migrated meanwhile.
            version = ReadVersion(connection, transaction);
            if (version < Migrations.Count)
            {
                Execute(connection, transaction, Migrations[version]);
                version++;
                Execute(connection, transaction, $"PRAGMA user_version = {version}");
            }

            transaction.Commit();
        }
    }

    private static int ReadVersion(SqliteConnection connection, SqliteTransaction? transaction)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "PRAGMA user_version";
        var version = Convert.ToInt32(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        if (version > Migrations.Count)
        {
            throw new NotSupportedException(
                $"The catalog '{connection.DataSource}' has schema version {version}, newer than this Shoal supports " +
                $"({Migrations.Count}). Use a newer Shoal.");
        }

        return version;
    }

    private static void Execute(SqliteConnection connection, SqliteTransaction transaction, string sql)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
