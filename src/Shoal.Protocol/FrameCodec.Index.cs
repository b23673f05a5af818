using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Shoal.Core;
using Shoal.Core.Folder;

namespace Shoal.Protocol;

/// <summary>
/// Synced-folder index exchange. Strings are u16 byte length + UTF-8, integers big-endian.
/// <code>
/// IndexRequest  folder (1..64 bytes) | u64 known epoch | i64 known sequence (≥ 0)
/// IndexUpdate   folder (1..64 bytes) | u64 epoch (≠ 0) | u8 flags (bit0 reset) | u16 record count (≤ 4096) | records
/// record        path (1..4096 bytes, no NUL) | u8 kind | u8 flags (bit0 deleted, bit1 manifest inline)
///               | i64 size (≥ 0) | i64 modified Unix ns | u32 permissions (≤ 0o7777) | 32-byte modifying device
///               | version: u16 count (≤ 256), per counter u64 device + u64 value, sorted by device, never zero
///               | i64 sequence (≥ 0) | 32-byte content id (zero for directories and deletions)
///               | if inline: u32 chunk count (≤ 1024), per chunk u32 length + 32-byte hash
/// </code>
/// Only live files carry content. A manifest travels inline exactly when the record holds one of at most
/// <see cref="IndexUpdate.MaxInlineChunks"/> chunks, so the encoding stays canonical; the decoder rebuilds it and
/// requires it to hash to the content id. Paths are checked only for what the codec must guarantee; whether a path
/// is acceptable is the sync layer's call, which can refuse one record without dropping the connection.
/// </summary>
public static partial class FrameCodec
{
    /// <summary>
    /// Upper bound of an index update frame's bytes besides its records, so a sender can batch records to a byte
    /// budget: the frame is at most this plus the sum of <see cref="EstimateRecordSize"/> over its records.
    /// </summary>
    public const int IndexUpdateOverhead = HeaderSize + IndexUpdateFixedSize + IndexUpdate.MaxFolderBytes;

    private const int IndexRequestFixedSize = 2 + 8 + 8;
    private const int IndexUpdateFixedSize = 2 + 8 + 1 + 2;
    private const int IndexRecordFixedSize = 2 + 1 + 1 + 8 + 8 + 4 + Hash256.Size + 2 + 8 + Hash256.Size;
    private const int VersionCounterSize = 8 + 8;
    private const byte IndexResetFlag = 0x01;
    private const byte RecordDeletedFlag = 0x01;
    private const byte RecordManifestFlag = 0x02;

    /// <summary>
    /// The bytes <paramref name="record"/> takes in an <see cref="IndexUpdate"/>: exact for a record the encoder
    /// accepts, and never less than it would take. It does not validate; encoding does.
    /// </summary>
    public static int EstimateRecordSize(FileRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(record.Path);
        ArgumentNullException.ThrowIfNull(record.Version);

        // The lenient count replaces a lone surrogate with 3 bytes, more than the 1 char it stands for: still a bound.
        var size = IndexRecordFixedSize + Encoding.UTF8.GetByteCount(record.Path) + (record.Version.Counters.Count * VersionCounterSize);
        if (SendsManifestInline(record)) size += 4 + (record.Manifest!.ChunkCount * ManifestEntrySize);
        return size;
    }

    private static bool SendsManifestInline(FileRecord record) =>
        record.Manifest is { ChunkCount: <= IndexUpdate.MaxInlineChunks } && record.IsFile && !record.Deleted;

    private static int MeasureIndexRequest(IndexRequest request)
    {
        if (request.KnownSequence < 0) throw new ArgumentException($"IndexRequest known sequence {request.KnownSequence} is negative.");
        return IndexRequestFixedSize + MeasureFolder(request.Folder, "IndexRequest folder");
    }

    private static long MeasureIndexUpdate(IndexUpdate update)
    {
        // Epoch 0 is what a request says when it holds nothing; a receiver storing it would contradict itself.
        if (update.Epoch == 0) throw new ArgumentException("IndexUpdate epoch 0 is reserved.");
        if (update.Records is null) throw new ArgumentException("IndexUpdate records are missing.");
        if (update.Records.Count > IndexUpdate.MaxRecords)
        {
            throw new ArgumentException($"An index update holds at most {IndexUpdate.MaxRecords} records, not {update.Records.Count}.");
        }

        long length = IndexUpdateFixedSize + MeasureFolder(update.Folder, "IndexUpdate folder");
        foreach (var record in update.Records) length += MeasureIndexRecord(record);
        return length;
    }

    private static int MeasureFolder(string? folder, string field)
    {
        var length = MeasureString(folder, IndexRequest.MaxFolderBytes, field);
        if (length == 0) throw new ArgumentException($"{field} is empty.");
        return length;
    }

    private static int MeasureIndexRecord(FileRecord? record)
    {
        if (record is null) throw new ArgumentException("An index record is missing.");
        if (MeasureString(record.Path, IndexUpdate.MaxPathBytes, "Index record path") == 0) throw new ArgumentException("An index record path is empty.");
        if (record.Path.Contains('\0')) throw new ArgumentException($"Index record path '{record.Path}' contains NUL.");
        if (!Enum.IsDefined(record.Kind)) throw new ArgumentException($"Index record {record.Path} has undefined kind {record.Kind}.");
        if (record.Size < 0) throw new ArgumentException($"Index record {record.Path} has a negative size.");
        if (record.Permissions > IndexUpdate.MaxPermissions)
        {
            throw new ArgumentException($"Index record {record.Path} has permissions 0x{record.Permissions:x} outside 0o7777.");
        }

        if (record.Version is null) throw new ArgumentException($"Index record {record.Path} has no version.");
        if (record.Sequence < 0) throw new ArgumentException($"Index record {record.Path} has a negative sequence.");
        if ((!record.IsFile || record.Deleted) && (record.Content != default || record.Manifest is not null))
        {
            throw new ArgumentException($"Index record {record.Path} is a directory or deletion but carries content.");
        }

        if (record.Manifest is not null && (record.Manifest.Id != record.Content || record.Manifest.Size != record.Size))
        {
            throw new ArgumentException($"Index record {record.Path} has a manifest that does not match its content id and size.");
        }

        return EstimateRecordSize(record);
    }

    private static void WriteIndexRequest(ref FrameWriter writer, IndexRequest request)
    {
        writer.WriteString(request.Folder);
        writer.WriteUInt64(request.KnownEpoch);
        writer.WriteUInt64((ulong)request.KnownSequence);
    }

    private static void WriteIndexUpdate(ref FrameWriter writer, IndexUpdate update)
    {
        writer.WriteString(update.Folder);
        writer.WriteUInt64(update.Epoch);
        writer.Take(1)[0] = update.Reset ? IndexResetFlag : (byte)0;
        writer.WriteUInt16((ushort)update.Records.Count);
        foreach (var record in update.Records) WriteIndexRecord(ref writer, record);
    }

    private static void WriteIndexRecord(ref FrameWriter writer, FileRecord record)
    {
        var inline = SendsManifestInline(record);
        writer.WriteString(record.Path);
        writer.Take(1)[0] = (byte)record.Kind;
        writer.Take(1)[0] = (byte)((record.Deleted ? RecordDeletedFlag : 0) | (inline ? RecordManifestFlag : 0));
        writer.WriteUInt64((ulong)record.Size);
        writer.WriteUInt64((ulong)record.ModifiedUnixNs);
        writer.WriteUInt32(record.Permissions);
        record.ModifiedBy.Value.CopyTo(writer.Take(Hash256.Size));
        record.Version.WriteTo(writer.Take(record.Version.SerializedSize));
        writer.WriteUInt64((ulong)record.Sequence);
        record.Content.Value.CopyTo(writer.Take(Hash256.Size));
        if (!inline) return;
        writer.WriteUInt32((uint)record.Manifest!.ChunkCount);
        foreach (var chunk in record.Manifest.Chunks)
        {
            writer.WriteUInt32((uint)chunk.Length);
            chunk.Hash.CopyTo(writer.Take(Hash256.Size));
        }
    }

    private static bool TryReadIndexRequest(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!TryReadFolder(ref reader, out var folder, out error)) return false;
        if (!TryReadUInt64(ref reader, out var epoch) || !TryReadUInt64(ref reader, out var sequence)) return Fail(out error, BodyEndsEarly);
        if (sequence > long.MaxValue) return Fail(out error, $"known sequence {sequence} is out of range");
        message = new IndexRequest(folder, epoch, (long)sequence);
        return true;
    }

    private static bool TryReadIndexUpdate(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!TryReadFolder(ref reader, out var folder, out error)) return false;
        if (!TryReadUInt64(ref reader, out var epoch) || !reader.TryRead(out var flags) || !TryReadUInt16(ref reader, out var count))
        {
            return Fail(out error, BodyEndsEarly);
        }

        if (epoch == 0) return Fail(out error, "index epoch 0 is reserved");
        if ((flags & ~IndexResetFlag) != 0) return Fail(out error, $"index update flags 0x{flags:x2} set reserved bits");
        if (count > IndexUpdate.MaxRecords) return Fail(out error, $"index update has {count} records; at most {IndexUpdate.MaxRecords} are allowed");
        if (reader.Remaining < (long)count * IndexRecordFixedSize) return Fail(out error, BodyEndsEarly);
        var records = new FileRecord[count];
        for (var i = 0; i < records.Length; i++)
        {
            if (!TryReadIndexRecord(ref reader, out records[i], out error))
            {
                error = $"index record {i}: {error}";
                return false;
            }
        }

        message = new IndexUpdate(folder, epoch, (flags & IndexResetFlag) != 0, records);
        return true;
    }

    private static bool TryReadFolder(ref SequenceReader<byte> reader, out string folder, out string error)
    {
        if (!TryReadString(ref reader, IndexRequest.MaxFolderBytes, "folder", out folder, out error)) return false;
        return folder.Length > 0 || Fail(out error, "folder is empty");
    }

    private static bool TryReadIndexRecord(ref SequenceReader<byte> reader, out FileRecord record, out string error)
    {
        record = null!;
        if (!TryReadString(ref reader, IndexUpdate.MaxPathBytes, "path", out var path, out error)) return false;
        if (path.Length == 0) return Fail(out error, "path is empty");
        if (path.Contains('\0')) return Fail(out error, "path contains NUL");
        if (!reader.TryRead(out var kind)
            || !reader.TryRead(out var flags)
            || !TryReadUInt64(ref reader, out var size)
            || !TryReadUInt64(ref reader, out var modified)
            || !TryReadUInt32(ref reader, out var permissions)
            || !TryReadHash(ref reader, out var modifiedBy))
        {
            return Fail(out error, BodyEndsEarly);
        }

        if (!Enum.IsDefined((EntryKind)kind)) return Fail(out error, $"unknown entry kind {kind}");
        if ((flags & ~(RecordDeletedFlag | RecordManifestFlag)) != 0) return Fail(out error, $"record flags 0x{flags:x2} set reserved bits");
        if (size > long.MaxValue) return Fail(out error, $"size {size} is out of range");
        if (permissions > IndexUpdate.MaxPermissions) return Fail(out error, $"permissions 0x{permissions:x} are outside 0o7777");
        if (!TryReadVersion(ref reader, out var version, out error)) return false;
        if (!TryReadUInt64(ref reader, out var sequence) || !TryReadHash(ref reader, out var content)) return Fail(out error, BodyEndsEarly);
        if (sequence > long.MaxValue) return Fail(out error, $"sequence {sequence} is out of range");

        var deleted = (flags & RecordDeletedFlag) != 0;
        var inline = (flags & RecordManifestFlag) != 0;
        var liveFile = (EntryKind)kind == EntryKind.File && !deleted;
        if (!liveFile && (content != default || inline)) return Fail(out error, "a directory or deletion carries content");

        Manifest? manifest = null;
        if (inline && !TryReadInlineManifest(ref reader, (long)size, content, out manifest, out error)) return false;
        record = new FileRecord(
            path, (EntryKind)kind, deleted, (long)size, (long)modified, permissions, new DeviceId(modifiedBy), version, (long)sequence, new FileId(content), manifest);
        error = "";
        return true;
    }

    private static bool TryReadVersion(ref SequenceReader<byte> reader, out VersionVector version, out string error)
    {
        version = VersionVector.Empty;
        if (!TryReadUInt16(ref reader, out var count)) return Fail(out error, BodyEndsEarly);
        if (count > VersionVector.MaxCounters) return Fail(out error, $"version has {count} counters; at most {VersionVector.MaxCounters} are allowed");

        // At most 4 KiB: VersionVector parses a span, so a version split across segments is gathered on the stack.
        Span<byte> bytes = stackalloc byte[2 + (count * VersionCounterSize)];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, count);
        if (!TryReadInto(ref reader, bytes[2..])) return Fail(out error, BodyEndsEarly);
        if (!VersionVector.TryRead(bytes, out version, out _)) return Fail(out error, "version counters must be nonzero, one per device, sorted by device");
        error = "";
        return true;
    }

    private static bool TryReadInlineManifest(ref SequenceReader<byte> reader, long size, Hash256 content, out Manifest? manifest, out string error)
    {
        manifest = null;
        if (!TryReadUInt32(ref reader, out var count)) return Fail(out error, BodyEndsEarly);
        if (count > IndexUpdate.MaxInlineChunks)
        {
            return Fail(out error, $"inline manifest has {count} chunks; at most {IndexUpdate.MaxInlineChunks} are allowed");
        }

        if (reader.Remaining < (long)count * ManifestEntrySize) return Fail(out error, BodyEndsEarly);
        var entries = new (int Length, Hash256 Hash)[count];
        for (var i = 0; i < entries.Length; i++)
        {
            TryReadUInt32(ref reader, out var length);
            TryReadHash(ref reader, out var hash);
            if (length is < 1 or > ChunkingParameters.MaxSize) return Fail(out error, $"manifest chunk {i} has an invalid length {length}");
            entries[i] = ((int)length, hash);
        }

        // Lengths are bounded above, so the total cannot overflow and the constructor cannot throw.
        var parsed = Manifest.FromLengthsAndHashes(entries);
        if (parsed.Size != size) return Fail(out error, $"inline manifest covers {parsed.Size} bytes, not the record's {size}");
        if (parsed.Id.Value != content) return Fail(out error, "inline manifest does not hash to the record's content id");
        manifest = parsed;
        error = "";
        return true;
    }
}
