using System.Globalization;
using Microsoft.Data.Sqlite;
using Shoal.Core;
using Shoal.Core.Folder;

namespace Shoal.Storage;

/// <summary>The synced folder's index: this node's own records, what each peer holds, and recent events.</summary>
public sealed partial class Catalog
{
    /// <summary>How many folder events are kept; older ones are dropped as new ones are added.</summary>
    public const int FolderEventsKept = 10_000;

    private const string FolderEpochSetting = "folder.epoch";

    private const string RecordColumns = "path, kind, deleted, size, modified_ns, permissions, modified_by, version, sequence, content, manifest";

    private const string RecordValues = "$path, $kind, $deleted, $size, $modified, $permissions, $by, $version, $sequence, $content, $manifest";

    private const string RecordUpdates = """
        kind = excluded.kind, deleted = excluded.deleted, size = excluded.size, modified_ns = excluded.modified_ns,
        permissions = excluded.permissions, modified_by = excluded.modified_by, version = excluded.version,
        sequence = excluded.sequence, content = excluded.content, manifest = excluded.manifest
        """;

    private const string LocalEntrySelect = $"SELECT {RecordColumns}, inode FROM folder_local";

    private const string RemoteEntrySelect = $"SELECT {RecordColumns}, device FROM folder_remote";

    // The same terms as the partial content indexes, so SQLite can use them.
    private const string LiveFile = "deleted = 0 AND kind = 0";

    private ulong _folderEpoch;

    /// <summary>
    /// A random nonzero 63-bit number identifying this node's index; created on first use and stored. Peers key the
    /// sequence numbers they hold by it, so a recreated database makes them start over.
    /// </summary>
    public ulong FolderEpoch
    {
        get
        {
            lock (_gate)
            {
                if (_folderEpoch == 0) _folderEpoch = LoadOrCreateFolderEpoch();
                return _folderEpoch;
            }
        }
    }

    /// <summary>The highest sequence number assigned in this node's index, 0 if none.</summary>
    public long LocalSequence => Query("SELECT COALESCE(MAX(sequence), 0) FROM folder_local", static r => r.GetInt64(0))[0];

    /// <summary>
    /// Stores changes to this node's own index in one transaction. Each record gets the next sequence number in list
    /// order (the <see cref="FileRecord.Sequence"/> passed in is ignored); returns the records as stored.
    /// </summary>
    public IReadOnlyList<FileRecord> SaveLocalEntries(IReadOnlyList<LocalEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        foreach (var entry in entries) ThrowIfManifestMismatch(entry.Record, nameof(entries));

        var stored = new FileRecord[entries.Count];
        InTransaction(() =>
        {
            // Rows are replaced, never deleted (a deletion is a tombstone), so the highest sequence in the table is
            // the highest ever assigned and a number is never handed out twice.
            var sequence = LocalSequence;
            for (var i = 0; i < entries.Count; i++)
            {
                var record = entries[i].Record with { Sequence = ++sequence };
                Execute(
                    $"""
                    INSERT INTO folder_local ({RecordColumns}, inode) VALUES ({RecordValues}, $inode)
                    ON CONFLICT (path) DO UPDATE SET {RecordUpdates}, inode = excluded.inode
                    """,
                    [.. RecordParameters(record), ("$inode", unchecked((long)entries[i].Inode))]);
                stored[i] = record;
            }
        });
        return stored;
    }

    public LocalEntry? GetLocalEntry(string path) =>
        QueryFirst(LocalEntrySelect + " WHERE path = $path", ReadLocalEntry, ("$path", path));

    /// <summary>Every record of this node's index, ordered by path (SQLite's binary order: by UTF-8 bytes).</summary>
    public IReadOnlyList<LocalEntry> ListLocalEntries() => Query(LocalEntrySelect + " ORDER BY path", ReadLocalEntry);

    /// <summary>Up to <paramref name="limit"/> records with a sequence above <paramref name="afterSequence"/>, in sequence order.</summary>
    public IReadOnlyList<FileRecord> ListLocalSince(long afterSequence, int limit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        return Query(
            LocalEntrySelect + " WHERE sequence > $after ORDER BY sequence LIMIT $limit",
            ReadRecord,
            ("$after", afterSequence),
            ("$limit", limit));
    }

    /// <summary>The live (not deleted) files of this node's index with this content, ordered by path.</summary>
    public IReadOnlyList<LocalEntry> FindLocalByContent(FileId content) =>
        Query(LocalEntrySelect + $" WHERE content = $content AND {LiveFile} ORDER BY path", ReadLocalEntry, ("$content", Key(content)));

    /// <summary>
    /// Applies one index message from a device in one transaction: with <paramref name="reset"/>, forgets everything
    /// held of that device's index first; upserts the records (their sequences are the sender's); remembers the epoch
    /// and the highest sequence seen in it.
    /// </summary>
    public void ApplyRemoteIndex(DeviceId device, ulong epoch, bool reset, IReadOnlyList<FileRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        foreach (var record in records) ThrowIfManifestMismatch(record, nameof(records));

        var key = Key(device);
        InTransaction(() =>
        {
            if (reset) DeleteRemoteIndex(key);

            // A sequence seen under another epoch counts from a different start, so it says nothing about this one.
            var state = GetRemoteIndexState(device);
            var highest = state is { } s && s.Epoch == epoch ? s.Sequence : 0;
            foreach (var record in records)
            {
                Execute(
                    $"""
                    INSERT INTO folder_remote (device, {RecordColumns}) VALUES ($device, {RecordValues})
                    ON CONFLICT (device, path) DO UPDATE SET {RecordUpdates}
                    """,
                    [("$device", key), .. RecordParameters(record)]);
                highest = Math.Max(highest, record.Sequence);
            }

            Execute(
                """
                INSERT INTO folder_remote_state (device, epoch, sequence) VALUES ($device, $epoch, $sequence)
                ON CONFLICT (device) DO UPDATE SET epoch = excluded.epoch, sequence = excluded.sequence
                """,
                ("$device", key),
                ("$epoch", unchecked((long)epoch)),
                ("$sequence", highest));
        });
    }

    /// <summary>The epoch of the device's index held here and the highest sequence seen in it; null if none is held.</summary>
    public (ulong Epoch, long Sequence)? GetRemoteIndexState(DeviceId device)
    {
        var states = Query(
            "SELECT epoch, sequence FROM folder_remote_state WHERE device = $device",
            static r => (unchecked((ulong)r.GetInt64(0)), r.GetInt64(1)),
            ("$device", Key(device)));
        return states.Count == 0 ? null : states[0];
    }

    public FileRecord? GetRemoteEntry(DeviceId device, string path) =>
        QueryFirst(
            RemoteEntrySelect + " WHERE device = $device AND path = $path",
            ReadRecord,
            ("$device", Key(device)),
            ("$path", path));

    /// <summary>What each peer holds at this path, ordered by device.</summary>
    public IReadOnlyList<(DeviceId Device, FileRecord Record)> ListRemoteEntries(string path) =>
        Query(RemoteEntrySelect + " WHERE path = $path ORDER BY device", ReadRemoteEntry, ("$path", path));

    /// <summary>Everything every peer holds, ordered by path (as <see cref="ListLocalEntries"/>) then device.</summary>
    public IReadOnlyList<(DeviceId Device, FileRecord Record)> ListRemoteEntries() =>
        Query(RemoteEntrySelect + " ORDER BY path, device", ReadRemoteEntry);

    /// <summary>The devices whose index has a live (not deleted) file with this content, ordered.</summary>
    public IReadOnlyList<DeviceId> FindRemoteHoldersOf(FileId content) =>
        Query(
            $"SELECT DISTINCT device FROM folder_remote WHERE content = $content AND {LiveFile} ORDER BY device",
            static r => DeviceId.FromBytes(r.GetFieldValue<byte[]>(0)),
            ("$content", Key(content)));

    /// <summary>Forgets everything held of the device's index, and its state.</summary>
    public void ForgetRemoteIndex(DeviceId device)
    {
        var key = Key(device);
        InTransaction(() => DeleteRemoteIndex(key));
    }

    /// <summary>Records events in one transaction, keeping only the newest <see cref="FolderEventsKept"/>.</summary>
    public void AddFolderEvents(IReadOnlyList<FolderEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        InTransaction(() =>
        {
            foreach (var e in events)
            {
                Execute(
                    """
                    INSERT INTO folder_events (time_ticks, path, device, device_name, kind, detail)
                    VALUES ($time, $path, $device, $name, $kind, $detail)
                    """,
                    ("$time", e.Time.UtcTicks),
                    ("$path", e.Path),
                    ("$device", Key(e.Device)),
                    ("$name", e.DeviceName),
                    ("$kind", (int)e.Kind),
                    ("$detail", e.Detail));
            }

            // Ids only grow, so the newest events are those with the highest ids.
            Execute(
                "DELETE FROM folder_events WHERE id <= (SELECT id FROM folder_events ORDER BY id DESC LIMIT 1 OFFSET $kept)",
                ("$kept", FolderEventsKept));
        });
    }

    /// <summary>Up to <paramref name="limit"/> events, the most recently added first.</summary>
    public IReadOnlyList<FolderEvent> ListFolderEvents(int limit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        return Query(
            "SELECT time_ticks, path, device, device_name, kind, detail FROM folder_events ORDER BY id DESC LIMIT $limit",
            static r => new FolderEvent(
                new DateTimeOffset(r.GetInt64(0), TimeSpan.Zero),
                r.GetString(1),
                DeviceId.FromBytes(r.GetFieldValue<byte[]>(2)),
                r.GetString(3),
                (FolderEventKind)r.GetInt32(4),
                r.GetString(5)),
            ("$limit", limit));
    }

    private ulong LoadOrCreateFolderEpoch()
    {
        string? stored = null;
        InTransaction(() =>
        {
            // 63 bits, so the epoch fits a signed 64-bit integer wherever it is stored or sent.
            var candidate = (ulong)Random.Shared.NextInt64(1, long.MaxValue);
            Execute(
                "INSERT INTO settings (key, value) VALUES ($key, $value) ON CONFLICT (key) DO NOTHING",
                ("$key", FolderEpochSetting),
                ("$value", candidate.ToString(CultureInfo.InvariantCulture)));
            stored = GetSetting(FolderEpochSetting);
        });
        return ulong.Parse(stored!, CultureInfo.InvariantCulture);
    }

    private void DeleteRemoteIndex(byte[] device)
    {
        Execute("DELETE FROM folder_remote WHERE device = $device", ("$device", device));
        Execute("DELETE FROM folder_remote_state WHERE device = $device", ("$device", device));
    }

    /// <summary>A manifest stored with a record is what a download of its content is verified against.</summary>
    private static void ThrowIfManifestMismatch(FileRecord record, string parameterName)
    {
        if (record.Manifest is { } manifest && (manifest.Id != record.Content || manifest.Size != record.Size))
        {
            throw new ArgumentException($"The manifest of '{record.Path}' does not describe its content {record.Content}.", parameterName);
        }
    }

    private static (string Name, object? Value)[] RecordParameters(FileRecord record) =>
    [
        ("$path", record.Path),
        ("$kind", (int)record.Kind),
        ("$deleted", record.Deleted),
        ("$size", record.Size),
        ("$modified", record.ModifiedUnixNs),
        ("$permissions", record.Permissions),
        ("$by", Key(record.ModifiedBy)),
        ("$version", record.Version.ToBytes()),
        ("$sequence", record.Sequence),
        ("$content", Key(record.Content)),
        ("$manifest", record.Manifest?.Serialize()),
    ];

    /// <summary>Reads the <see cref="RecordColumns"/>, which every folder select starts with.</summary>
    private static FileRecord ReadRecord(SqliteDataReader r) => new(
        r.GetString(0),
        (EntryKind)r.GetInt32(1),
        r.GetBoolean(2),
        r.GetInt64(3),
        r.GetInt64(4),
        (uint)r.GetInt64(5),
        DeviceId.FromBytes(r.GetFieldValue<byte[]>(6)),
        VersionVector.FromBytes(r.GetFieldValue<byte[]>(7)),
        r.GetInt64(8),
        FileId.FromBytes(r.GetFieldValue<byte[]>(9)),
        r.IsDBNull(10) ? null : Manifest.Deserialize(r.GetFieldValue<byte[]>(10)));

    private static LocalEntry ReadLocalEntry(SqliteDataReader r) => new(ReadRecord(r), unchecked((ulong)r.GetInt64(11)));

    private static (DeviceId, FileRecord) ReadRemoteEntry(SqliteDataReader r) =>
        (DeviceId.FromBytes(r.GetFieldValue<byte[]>(11)), ReadRecord(r));
}
