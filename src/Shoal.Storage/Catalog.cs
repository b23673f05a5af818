using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Data.Sqlite;
using Shoal.Core;

namespace Shoal.Storage;

/// <summary>
/// The node's SQLite database. Thread-safe: one connection behind a lock, because SQLite serialises writers
/// anyway, every call is short, and a single connection lets each statement stay prepared across calls.
/// </summary>
public sealed partial class Catalog : IDisposable
{
    private const int BusyTimeoutMilliseconds = 5000;
    private const int SqliteConstraintForeignKey = 787;

    private const string LocalFileSelect = """
        SELECT l.file_id, l.name, l.size, m.data, l.path, l.last_write_ticks, l.kind, l.added_ticks
        FROM local_files l JOIN manifests m ON m.file_id = l.file_id
        """;

    private const string DownloadSelect = """
        SELECT file_id, name, size, target_directory, partial_path, status, created_ticks, final_path, error
        FROM downloads
        """;

    private const string PeerFileSelect = "SELECT device_id, file_id, name, size, chunk_count, chunks FROM peer_files";

    private const string PeerSelect = "SELECT device_id, name, addresses, last_seen_ticks FROM peers";

    private readonly Lock _gate = new();
    private readonly SqliteConnection _connection;

    /// <summary>Where the database is, for saying which disk is full.</summary>
    private readonly string _directory;
    private readonly Dictionary<string, SqliteCommand> _statements = new(StringComparer.Ordinal);
    private SqliteTransaction? _transaction;
    private bool _disposed;

    private Catalog(SqliteConnection connection, string directory)
    {
        _connection = connection;
        _directory = directory;
    }

    /// <summary>The schema version this build creates and expects (PRAGMA user_version).</summary>
    public static int SchemaVersion => CatalogSchema.Migrations.Count;

    public static Catalog Open(string path)
    {
        var fullPath = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = fullPath,
            Mode = SqliteOpenMode.ReadWriteCreate,

            // A pooled connection would keep the file open after Dispose, so the home could not be moved or deleted.
            Pooling = false,
        }.ToString();

        var connection = new SqliteConnection(connectionString);
        try
        {
            connection.Open();
            using (var command = connection.CreateCommand())
            {
                // NORMAL under WAL can lose the last commits on power loss but never corrupts; everything that
                // matters after a crash (verified chunks) is re-checked against the disk anyway.
                command.CommandText = $"""
                    PRAGMA busy_timeout = {BusyTimeoutMilliseconds};
                    PRAGMA journal_mode = WAL;
                    PRAGMA synchronous = NORMAL;
                    PRAGMA foreign_keys = ON;
                    """;
                command.ExecuteNonQuery();
            }

            CatalogSchema.Migrate(connection);
            return new Catalog(connection, Path.GetDirectoryName(fullPath)!);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public void SaveManifest(Manifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        InsertManifest(Key(manifest.Id), manifest);
    }

    public Manifest? GetManifest(FileId id) =>
        QueryFirst(
            "SELECT data FROM manifests WHERE file_id = $id",
            static r => Manifest.Deserialize(r.GetFieldValue<byte[]>(0)),
            ("$id", Key(id)));

    public void UpsertLocalFile(LocalFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (file.Manifest.Id != file.Id || file.Manifest.Size != file.Size)
        {
            throw new ArgumentException($"The manifest of '{file.Name}' does not describe file {file.Id}.", nameof(file));
        }

        var id = Key(file.Id);
        InTransaction(() =>
        {
            InsertManifest(id, file.Manifest);
            Execute(
                """
                INSERT INTO local_files (file_id, name, size, path, last_write_ticks, kind, added_ticks)
                VALUES ($id, $name, $size, $path, $lastWrite, $kind, $added)
                ON CONFLICT (file_id) DO UPDATE SET
                    name = excluded.name, size = excluded.size, path = excluded.path,
                    last_write_ticks = excluded.last_write_ticks, kind = excluded.kind, added_ticks = excluded.added_ticks
                """,
                ("$id", id),
                ("$name", file.Name),
                ("$size", file.Size),
                ("$path", file.Path),
                ("$lastWrite", UtcTicks(file.LastWriteUtc)),
                ("$kind", (int)file.Kind),
                ("$added", file.AddedAt.UtcTicks));
        });
    }

    public LocalFile? GetLocalFile(FileId id) =>
        QueryFirst(LocalFileSelect + " WHERE l.file_id = $id", ReadLocalFile, ("$id", Key(id)));

    public IReadOnlyList<LocalFile> ListLocalFiles() =>
        Query(LocalFileSelect + " ORDER BY l.name, l.file_id", ReadLocalFile);

    /// <summary>Files recorded at exactly this path; more than one only while a rescan has not yet dropped stale records.</summary>
    public IReadOnlyList<LocalFile> FindLocalFilesByPath(string path) =>
        Query(LocalFileSelect + " WHERE l.path = $path ORDER BY l.file_id", ReadLocalFile, ("$path", path));

    public bool RemoveLocalFile(FileId id)
    {
        var key = Key(id);
        var removed = false;
        InTransaction(() =>
        {
            removed = Execute("DELETE FROM local_files WHERE file_id = $id", ("$id", key)) > 0;
            DeleteManifestIfUnused(key);
        });
        return removed;
    }

    public void UpsertDownload(DownloadRecord download)
    {
        ArgumentNullException.ThrowIfNull(download);
        Execute(
            """
            INSERT INTO downloads (file_id, name, size, target_directory, partial_path, status, created_ticks, final_path, error)
            VALUES ($id, $name, $size, $target, $partial, $status, $created, $final, $error)
            ON CONFLICT (file_id) DO UPDATE SET
                name = excluded.name, size = excluded.size, target_directory = excluded.target_directory,
                partial_path = excluded.partial_path, status = excluded.status, created_ticks = excluded.created_ticks,
                final_path = excluded.final_path, error = excluded.error
            """,
            ("$id", Key(download.Id)),
            ("$name", download.Name),
            ("$size", download.Size),
            ("$target", download.TargetDirectory),
            ("$partial", download.PartialPath),
            ("$status", (int)download.Status),
            ("$created", download.CreatedAt.UtcTicks),
            ("$final", download.FinalPath),
            ("$error", download.Error));
    }

    public DownloadRecord? GetDownload(FileId id) =>
        QueryFirst(DownloadSelect + " WHERE file_id = $id", ReadDownload, ("$id", Key(id)));

    public IReadOnlyList<DownloadRecord> ListDownloads() =>
        Query(DownloadSelect + " ORDER BY created_ticks, file_id", ReadDownload);

    /// <summary>Removes the download, its verified chunks and, unless a local file uses it, its manifest.</summary>
    public bool RemoveDownload(FileId id)
    {
        var key = Key(id);
        var removed = false;
        InTransaction(() =>
        {
            removed = Execute("DELETE FROM downloads WHERE file_id = $id", ("$id", key)) > 0;
            DeleteManifestIfUnused(key);
        });
        return removed;
    }

    /// <summary>Records a chunk as written and verified. The download must exist.</summary>
    public void MarkChunkVerified(FileId id, int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        try
        {
            Execute(
                "INSERT OR IGNORE INTO download_chunks (file_id, idx) VALUES ($id, $idx)",
                ("$id", Key(id)),
                ("$idx", index));
        }
        catch (SqliteException e) when (e.SqliteExtendedErrorCode == SqliteConstraintForeignKey)
        {
            throw new InvalidOperationException($"There is no download of {id} to record chunk {index} for.", e);
        }
    }

    public void UnmarkChunksVerified(FileId id, IEnumerable<int> indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        var key = Key(id);
        InTransaction(() =>
        {
            foreach (var index in indices)
            {
                Execute("DELETE FROM download_chunks WHERE file_id = $id AND idx = $idx", ("$id", key), ("$idx", index));
            }
        });
    }

    /// <summary>The chunks recorded as verified; indexes outside the manifest are ignored.</summary>
    public Bitfield LoadVerifiedChunks(FileId id, int chunkCount)
    {
        var verified = new Bitfield(chunkCount);
        var indices = Query("SELECT idx FROM download_chunks WHERE file_id = $id", static r => r.GetInt64(0), ("$id", Key(id)));
        foreach (var index in indices)
        {
            if (index < chunkCount) verified.Set((int)index);
        }

        return verified;
    }

    /// <summary>Records what a peer has of a file; <paramref name="chunks"/> null means all of it.</summary>
    public void SetPeerFile(DeviceId peer, FileId file, string name, long size, int chunkCount, Bitfield? chunks)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        ArgumentOutOfRangeException.ThrowIfNegative(chunkCount);
        if (chunks is not null && chunks.Length != chunkCount)
        {
            throw new ArgumentException($"The bitfield has {chunks.Length} bits for {chunkCount} chunks.", nameof(chunks));
        }

        Execute(
            """
            INSERT INTO peer_files (device_id, file_id, name, size, chunk_count, chunks)
            VALUES ($peer, $file, $name, $size, $count, $chunks)
            ON CONFLICT (device_id, file_id) DO UPDATE SET
                name = excluded.name, size = excluded.size, chunk_count = excluded.chunk_count, chunks = excluded.chunks
            """,
            ("$peer", Key(peer)),
            ("$file", Key(file)),
            ("$name", name),
            ("$size", size),
            ("$count", chunkCount),
            ("$chunks", chunks?.ToArray()));
    }

    /// <summary>
    /// Records a whole inventory in one transaction: one commit instead of one per file, since a peer's inventory
    /// arrives on its connection's read loop.
    /// </summary>
    public void SetPeerFiles(IReadOnlyList<PeerFileRecord> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        InTransaction(() =>
        {
            foreach (var f in files) SetPeerFile(f.Peer, f.File, f.Name, f.Size, f.ChunkCount, f.Chunks);
        });
    }

    public bool RemovePeerFile(DeviceId peer, FileId file) =>
        Execute("DELETE FROM peer_files WHERE device_id = $peer AND file_id = $file", ("$peer", Key(peer)), ("$file", Key(file))) > 0;

    /// <summary>Forgets everything a peer had; returns how many files were forgotten.</summary>
    public int ClearPeerFiles(DeviceId peer) =>
        Execute("DELETE FROM peer_files WHERE device_id = $peer", ("$peer", Key(peer)));

    public IReadOnlyList<PeerFileRecord> ListPeerFiles() =>
        Query(PeerFileSelect + " ORDER BY device_id, file_id", ReadPeerFile);

    /// <summary>The peers known to have some of this file.</summary>
    public IReadOnlyList<PeerFileRecord> ListPeerFiles(FileId file) =>
        Query(PeerFileSelect + " WHERE file_id = $file ORDER BY device_id", ReadPeerFile, ("$file", Key(file)));

    public void UpsertPeer(PeerRecord peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        Execute(
            """
            INSERT INTO peers (device_id, name, addresses, last_seen_ticks) VALUES ($id, $name, $addresses, $seen)
            ON CONFLICT (device_id) DO UPDATE SET
                name = excluded.name, addresses = excluded.addresses, last_seen_ticks = excluded.last_seen_ticks
            """,
            ("$id", Key(peer.Id)),
            ("$name", peer.Name),
            ("$addresses", JsonSerializer.Serialize(peer.Addresses.ToArray(), CatalogJsonContext.Default.StringArray)),
            ("$seen", peer.LastSeen.UtcTicks));
    }

    public PeerRecord? GetPeer(DeviceId id) =>
        QueryFirst(PeerSelect + " WHERE device_id = $id", ReadPeer, ("$id", Key(id)));

    public IReadOnlyList<PeerRecord> ListPeers() => Query(PeerSelect + " ORDER BY name, device_id", ReadPeer);

    /// <summary>Forgets a peer and what it had.</summary>
    public bool RemovePeer(DeviceId id)
    {
        var key = Key(id);
        var removed = false;
        InTransaction(() =>
        {
            Execute("DELETE FROM peer_files WHERE device_id = $id", ("$id", key));
            removed = Execute("DELETE FROM peers WHERE device_id = $id", ("$id", key)) > 0;
        });
        return removed;
    }

    /// <summary>Records a revocation; returns false if the device was already revoked.</summary>
    public bool RevokeDevice(DeviceId id, DateTimeOffset revokedAt) =>
        Execute(
            "INSERT INTO revoked_devices (device_id, revoked_ticks) VALUES ($id, $ticks) ON CONFLICT (device_id) DO NOTHING",
            ("$id", Key(id)),
            ("$ticks", revokedAt.UtcTicks)) > 0;

    public IReadOnlyList<DeviceId> ListRevokedDevices() =>
        Query("SELECT device_id FROM revoked_devices ORDER BY device_id", static r => DeviceId.FromBytes((byte[])r[0]));

    public string? GetSetting(string key) =>
        QueryFirst("SELECT value FROM settings WHERE key = $key", static r => r.GetString(0), ("$key", key));

    public void SetSetting(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        Execute(
            "INSERT INTO settings (key, value) VALUES ($key, $value) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            ("$key", key),
            ("$value", value));
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var statement in _statements.Values) statement.Dispose();
            _statements.Clear();
            _connection.Dispose();
        }
    }

    private void InsertManifest(byte[] key, Manifest manifest) =>
        // The id is the hash of the manifest's content, so an existing row already holds the same bytes.
        Execute(
            "INSERT OR IGNORE INTO manifests (file_id, data) VALUES ($id, $data)",
            ("$id", key),
            ("$data", manifest.Serialize()));

    private void DeleteManifestIfUnused(byte[] key) =>
        Execute(
            """
            DELETE FROM manifests WHERE file_id = $id
                AND NOT EXISTS (SELECT 1 FROM local_files WHERE file_id = $id)
                AND NOT EXISTS (SELECT 1 FROM downloads WHERE file_id = $id)
                AND NOT EXISTS (SELECT 1 FROM put_files WHERE file_id = $id AND deleted = 0)
            """,
            ("$id", key));

    private void InTransaction(Action body)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var transaction = _connection.BeginTransaction(deferred: false);
            _transaction = transaction;
            try
            {
                body();
                transaction.Commit();
            }
            catch (SqliteException e) when (DiskSpace.IsFull(e))
            {
                // SQLite rolls back and the database stays as it was; the caller learns which disk to free.
                throw new DiskFullException(_directory, DiskSpace.CatalogRoom, e);
            }
            finally
            {
                _transaction = null;
            }
        }
    }

    private int Execute(string sql, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        lock (_gate)
        {
            try
            {
                return Prepare(sql, parameters).ExecuteNonQuery();
            }
            catch (SqliteException e) when (DiskSpace.IsFull(e))
            {
                throw new DiskFullException(_directory, DiskSpace.CatalogRoom, e);
            }
        }
    }

    private List<T> Query<T>(string sql, Func<SqliteDataReader, T> read, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        lock (_gate)
        {
            using var reader = Prepare(sql, parameters).ExecuteReader();
            var rows = new List<T>();
            while (reader.Read()) rows.Add(read(reader));
            return rows;
        }
    }

    private T? QueryFirst<T>(string sql, Func<SqliteDataReader, T> read, params ReadOnlySpan<(string Name, object? Value)> parameters)
        where T : class
    {
        lock (_gate)
        {
            using var reader = Prepare(sql, parameters).ExecuteReader();
            return reader.Read() ? read(reader) : null;
        }
    }

    /// <summary>Caller holds <see cref="_gate"/>. Commands are cached by their SQL so SQLite parses each statement once.</summary>
    private SqliteCommand Prepare(string sql, ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_statements.TryGetValue(sql, out var command))
        {
            command = _connection.CreateCommand();
            command.CommandText = sql;
            _statements.Add(sql, command);
        }

        command.Transaction = _transaction;
        command.Parameters.Clear();
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    private static LocalFile ReadLocalFile(SqliteDataReader r) => new(
        FileId.FromBytes(r.GetFieldValue<byte[]>(0)),
        r.GetString(1),
        r.GetInt64(2),
        Manifest.Deserialize(r.GetFieldValue<byte[]>(3)),
        r.GetString(4),
        new DateTime(r.GetInt64(5), DateTimeKind.Utc),
        (LocalFileKind)r.GetInt32(6),
        new DateTimeOffset(r.GetInt64(7), TimeSpan.Zero));

    private static DownloadRecord ReadDownload(SqliteDataReader r) => new(
        FileId.FromBytes(r.GetFieldValue<byte[]>(0)),
        r.GetString(1),
        r.GetInt64(2),
        r.GetString(3),
        r.GetString(4),
        (DownloadStatus)r.GetInt32(5),
        new DateTimeOffset(r.GetInt64(6), TimeSpan.Zero),
        r.IsDBNull(7) ? null : r.GetString(7),
        r.IsDBNull(8) ? null : r.GetString(8));

    private static PeerFileRecord ReadPeerFile(SqliteDataReader r)
    {
        var chunkCount = r.GetInt32(4);
        return new PeerFileRecord(
            DeviceId.FromBytes(r.GetFieldValue<byte[]>(0)),
            FileId.FromBytes(r.GetFieldValue<byte[]>(1)),
            r.GetString(2),
            r.GetInt64(3),
            chunkCount,
            r.IsDBNull(5) ? null : Bitfield.FromBytes(chunkCount, r.GetFieldValue<byte[]>(5)));
    }

    private static PeerRecord ReadPeer(SqliteDataReader r) => new(
        DeviceId.FromBytes(r.GetFieldValue<byte[]>(0)),
        r.GetString(1),
        JsonSerializer.Deserialize(r.GetString(2), CatalogJsonContext.Default.StringArray) ?? [],
        new DateTimeOffset(r.GetInt64(3), TimeSpan.Zero));

    private static byte[] Key(FileId id) => id.Value.ToArray();

    private static byte[] Key(DeviceId id) => id.Value.ToArray();

    /// <summary>Ticks, not a coarser unit, so a stored write time compares equal to the file system's.</summary>
    private static long UtcTicks(DateTime time) =>
        time.Kind == DateTimeKind.Local ? time.ToUniversalTime().Ticks : time.Ticks;
}

[JsonSerializable(typeof(string[]))]
internal sealed partial class CatalogJsonContext : JsonSerializerContext
{
}
