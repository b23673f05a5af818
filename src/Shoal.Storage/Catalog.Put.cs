using Microsoft.Data.Sqlite;
using Shoal.Core;

namespace Shoal.Storage;

/// <summary>Files stored into the network (put) and their tombstones.</summary>
public sealed partial class Catalog
{
    private const string PutFileSelect = "SELECT file_id, name, size, chunk_count, replicas, updated_ticks, updated_by, deleted FROM put_files";

    /// <summary>Stores the record if it is newer than what is known (or new); returns whether it was stored.</summary>
    public bool ApplyPutFile(PutFileRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var applied = false;
        InTransaction(() =>
        {
            if (GetPutFile(record.Id) is { } known && !record.IsNewerThan(known)) return;
            Execute(
                """
                INSERT INTO put_files (file_id, name, size, chunk_count, replicas, updated_ticks, updated_by, deleted)
                VALUES ($id, $name, $size, $chunks, $replicas, $ticks, $by, $deleted)
                ON CONFLICT (file_id) DO UPDATE SET
                    name = excluded.name, size = excluded.size, chunk_count = excluded.chunk_count, replicas = excluded.replicas,
                    updated_ticks = excluded.updated_ticks, updated_by = excluded.updated_by, deleted = excluded.deleted
                """,
                ("$id", Key(record.Id)),
                ("$name", record.Name),
                ("$size", record.Size),
                ("$chunks", record.ChunkCount),
                ("$replicas", record.Replicas),
                ("$ticks", record.UpdatedTicks),
                ("$by", Key(record.UpdatedBy)),
                ("$deleted", record.Deleted ? 1 : 0));
            applied = true;
        });
        return applied;
    }

    public PutFileRecord? GetPutFile(FileId id) => QueryFirst(PutFileSelect + " WHERE file_id = $id", ReadPutFile, ("$id", Key(id)));

    /// <summary>Every put file, tombstones included.</summary>
    public IReadOnlyList<PutFileRecord> ListPutFiles() => Query(PutFileSelect, ReadPutFile);

    private static PutFileRecord ReadPutFile(SqliteDataReader r) => new(
        FileId.FromBytes(r.GetFieldValue<byte[]>(0)),
        r.GetString(1),
        r.GetInt64(2),
        r.GetInt32(3),
        r.GetInt32(4),
        r.GetInt64(5),
        DeviceId.FromBytes(r.GetFieldValue<byte[]>(6)),
        r.GetInt32(7) != 0);
}
