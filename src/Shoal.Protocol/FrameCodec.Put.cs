using System.Buffers;
using Shoal.Core;

namespace Shoal.Protocol;

/// <summary>
/// Put: files stored into the network with N replicas. Strings are u16 byte length + UTF-8, integers big-endian.
/// <code>
/// StoreChunk    u32 request id | 32-byte file id | u32 chunk index (≤ int max) | data (1..4 MiB, the rest of the body)
/// StoreResult   u32 request id | u8 outcome
/// PutRecords    u16 record count (≤ 1024) | records
/// record        32-byte file id | name (≤ 255 bytes) | i64 size (≥ 0) | u32 chunk count (≤ 2^20) | u8 replicas (≥ 1)
///               | i64 updated ticks | 32-byte updating device | u8 deleted (0 or 1)
/// StoreStatus   i64 quota bytes (≥ 0) | i64 used bytes (≥ 0)
/// StoredChunks  32-byte file id | u32 chunk count (≤ 2^20) | bitfield (⌈count / 8⌉ bytes, first chunk in the high bit,
///               pad bits after the last chunk zero)
/// </code>
/// </summary>
public static partial class FrameCodec
{
    private const int StoreChunkFixedSize = 4 + Hash256.Size + 4;
    private const int StoreResultSize = 4 + 1;
    private const int PutRecordsFixedSize = 2;
    private const int PutRecordFixedSize = Hash256.Size + 2 + 8 + 4 + 1 + 8 + Hash256.Size + 1;
    private const int StoreStatusSize = 8 + 8;
    private const int StoredChunksFixedSize = Hash256.Size + 4;

    /// <summary>
    /// Room a maximum-size chunk leaves in the largest frame after its store fields. A constant that would be
    /// negative does not convert to uint, so outgrowing the frame is a compile error rather than unsendable chunks.
    /// </summary>
    private const uint StoreChunkSpareBytes = MaxBodyLength - StoreChunkFixedSize - ChunkingParameters.MaxSize;

    /// <summary>The fixed fields plus a maximum-size chunk, derived from <see cref="StoreChunkSpareBytes"/> so that check cannot be dropped.</summary>
    private const int StoreChunkMaxBodyLength = MaxBodyLength - (int)StoreChunkSpareBytes;

    private static int MeasureStoreChunk(StoreChunk store)
    {
        MeasureIndex(store.ChunkIndex, "StoreChunk chunk index");
        if (store.Data.Length is < 1 or > ChunkingParameters.MaxSize)
        {
            throw new ArgumentException($"StoreChunk data of {store.Data.Length} bytes is outside 1..{ChunkingParameters.MaxSize}.");
        }

        return StoreChunkFixedSize + store.Data.Length;
    }

    private static int MeasureStoreResult(StoreResult result)
    {
        if (!Enum.IsDefined(result.Outcome)) throw new ArgumentException($"Store outcome {result.Outcome} is not defined.");
        return StoreResultSize;
    }

    private static long MeasurePutRecords(PutRecords put)
    {
        if (put.Records is null) throw new ArgumentException("PutRecords records are missing.");
        if (put.Records.Count > PutRecords.MaxRecords)
        {
            throw new ArgumentException($"PutRecords holds at most {PutRecords.MaxRecords} records, not {put.Records.Count}.");
        }

        long length = PutRecordsFixedSize;
        foreach (var record in put.Records)
        {
            if (record is null) throw new ArgumentException("A put record is missing.");
            if (record.Size < 0) throw new ArgumentException($"Put record {record.File} has a negative size.");
            if (record.ChunkCount is < 0 or > Manifest.MaxChunkCount)
            {
                throw new ArgumentException($"Put record {record.File} has {record.ChunkCount} chunks.");
            }

            if (record.Replicas is < 1 or > PutRecord.MaxReplicas)
            {
                throw new ArgumentException($"Put record {record.File} asks for {record.Replicas} replicas; 1..{PutRecord.MaxReplicas} are allowed.");
            }

            length += PutRecordFixedSize + MeasureString(record.Name, PutRecord.MaxNameBytes, "Put record name");
        }

        return length;
    }

    private static int MeasureStoreStatus(StoreStatus status)
    {
        if (status.QuotaBytes < 0) throw new ArgumentException($"StoreStatus quota {status.QuotaBytes} is negative.");
        if (status.UsedBytes < 0) throw new ArgumentException($"StoreStatus used bytes {status.UsedBytes} is negative.");
        return StoreStatusSize;
    }

    private static int MeasureStoredChunks(StoredChunks stored)
    {
        if (stored.Chunks is null) throw new ArgumentException($"StoredChunks of {stored.File} has no bitfield.");
        if (stored.Chunks.Length > Manifest.MaxChunkCount)
        {
            throw new ArgumentException($"StoredChunks of {stored.File} has {stored.Chunks.Length} chunks; at most {Manifest.MaxChunkCount} are allowed.");
        }

        return StoredChunksFixedSize + Bitfield.ByteLength(stored.Chunks.Length);
    }

    private static void WriteStoreChunk(ref FrameWriter writer, StoreChunk store)
    {
        writer.WriteUInt32(store.RequestId);
        store.File.Value.CopyTo(writer.Take(Hash256.Size));
        writer.WriteUInt32((uint)store.ChunkIndex);
        writer.WriteBytes(store.Data.Span);
    }

    private static void WritePutRecords(ref FrameWriter writer, PutRecords put)
    {
        writer.WriteUInt16((ushort)put.Records.Count);
        foreach (var record in put.Records)
        {
            record.File.Value.CopyTo(writer.Take(Hash256.Size));
            writer.WriteString(record.Name);
            writer.WriteUInt64((ulong)record.Size);
            writer.WriteUInt32((uint)record.ChunkCount);
            writer.Take(1)[0] = (byte)record.Replicas;
            writer.WriteUInt64((ulong)record.UpdatedTicks);
            record.UpdatedBy.Value.CopyTo(writer.Take(Hash256.Size));
            writer.Take(1)[0] = record.Deleted ? (byte)1 : (byte)0;
        }
    }

    private static void WriteStoredChunks(ref FrameWriter writer, StoredChunks stored)
    {
        stored.File.Value.CopyTo(writer.Take(Hash256.Size));
        writer.WriteUInt32((uint)stored.Chunks.Length);
        writer.WriteBytes(stored.Chunks.AsSpan());
    }

    private static bool TryReadStoreChunk(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!TryReadUInt32(ref reader, out var requestId) || !TryReadHash(ref reader, out var file)) return Fail(out error, BodyEndsEarly);
        if (!TryReadIndex(ref reader, "chunk index", out var chunkIndex, out error)) return false;

        // The body size range already holds the data to 1..MaxSize bytes. Copied: the frame buffer is reused after dispatch.
        var data = reader.UnreadSequence.ToArray();
        reader.AdvanceToEnd();
        message = new StoreChunk(requestId, new FileId(file), chunkIndex, data);
        return true;
    }

    private static bool TryReadStoreResult(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!TryReadUInt32(ref reader, out var requestId) || !reader.TryRead(out var outcome)) return Fail(out error, BodyEndsEarly);
        if (!Enum.IsDefined((StoreOutcome)outcome)) return Fail(out error, $"unknown store outcome {outcome}");
        message = new StoreResult(requestId, (StoreOutcome)outcome);
        error = "";
        return true;
    }

    private static bool TryReadPutRecords(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!TryReadUInt16(ref reader, out var count)) return Fail(out error, BodyEndsEarly);
        if (count > PutRecords.MaxRecords) return Fail(out error, $"put list has {count} records; at most {PutRecords.MaxRecords} are allowed");

        // Checked before allocating, so a short frame cannot claim a thousand records.
        if (reader.Remaining < (long)count * PutRecordFixedSize) return Fail(out error, BodyEndsEarly);
        var records = new PutRecord[count];
        for (var i = 0; i < records.Length; i++)
        {
            if (!TryReadPutRecord(ref reader, out records[i], out error))
            {
                error = $"put record {i}: {error}";
                return false;
            }
        }

        message = new PutRecords(records);
        error = "";
        return true;
    }

    private static bool TryReadPutRecord(ref SequenceReader<byte> reader, out PutRecord record, out string error)
    {
        record = null!;
        if (!TryReadHash(ref reader, out var file)) return Fail(out error, BodyEndsEarly);
        if (!TryReadString(ref reader, PutRecord.MaxNameBytes, "name", out var name, out error)) return false;
        if (!TryReadUInt64(ref reader, out var size)
            || !TryReadUInt32(ref reader, out var chunkCount)
            || !reader.TryRead(out var replicas)
            || !TryReadUInt64(ref reader, out var updatedTicks)
            || !TryReadHash(ref reader, out var updatedBy)
            || !reader.TryRead(out var deleted))
        {
            return Fail(out error, BodyEndsEarly);
        }

        if (size > long.MaxValue) return Fail(out error, $"size {size} is out of range");
        if (chunkCount > Manifest.MaxChunkCount) return Fail(out error, $"{chunkCount} chunks; at most {Manifest.MaxChunkCount} are allowed");
        if (replicas == 0) return Fail(out error, "0 replicas; at least 1 is required");
        if (deleted > 1) return Fail(out error, $"deleted byte {deleted} is neither 0 nor 1");
        record = new PutRecord(new FileId(file), name, (long)size, (int)chunkCount, replicas, (long)updatedTicks, new DeviceId(updatedBy), deleted == 1);
        error = "";
        return true;
    }

    private static bool TryReadStoreStatus(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!TryReadUInt64(ref reader, out var quota) || !TryReadUInt64(ref reader, out var used)) return Fail(out error, BodyEndsEarly);
        if (quota > long.MaxValue) return Fail(out error, $"quota {quota} is out of range");
        if (used > long.MaxValue) return Fail(out error, $"used bytes {used} are out of range");
        message = new StoreStatus((long)quota, (long)used);
        error = "";
        return true;
    }

    private static bool TryReadStoredChunks(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!TryReadHash(ref reader, out var file) || !TryReadUInt32(ref reader, out var count)) return Fail(out error, BodyEndsEarly);
        if (count > Manifest.MaxChunkCount) return Fail(out error, $"{count} chunks; at most {Manifest.MaxChunkCount} are allowed");

        // A bitfield longer than its count is left unread and rejected as trailing bytes.
        if (!TryReadBitfield(ref reader, (int)count, out var chunks, out error)) return false;
        message = new StoredChunks(new FileId(file), chunks!);
        return true;
    }
}
