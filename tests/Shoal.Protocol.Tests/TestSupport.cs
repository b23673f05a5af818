using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Shoal.Core;
using Shoal.Core.Folder;

namespace Shoal.Protocol.Tests;

/// <summary>A hand-built chain of buffers, so decoding is exercised across segment boundaries.</summary>
internal sealed class Segment : ReadOnlySequenceSegment<byte>
{
    public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public Segment Append(ReadOnlyMemory<byte> memory)
    {
        var next = new Segment(memory, RunningIndex + Memory.Length);
        Next = next;
        return next;
    }
}

internal static class Sequences
{
    public static ReadOnlySequence<byte> FromParts(IReadOnlyList<ReadOnlyMemory<byte>> parts)
    {
        if (parts.Count == 0) return ReadOnlySequence<byte>.Empty;
        var first = new Segment(parts[0], 0);
        var last = first;
        for (var i = 1; i < parts.Count; i++) last = last.Append(parts[i]);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Copies each part, so a decoder reading past a segment's end would see other memory, not the next bytes.</summary>
    public static ReadOnlySequence<byte> SplitAt(byte[] data, params int[] cuts)
    {
        var parts = new List<ReadOnlyMemory<byte>>();
        var start = 0;
        foreach (var cut in cuts)
        {
            parts.Add(data[start..cut]);
            start = cut;
        }

        parts.Add(data[start..]);
        return FromParts(parts);
    }

    public static ReadOnlySequence<byte> OneBytePerSegment(byte[] data) =>
        FromParts([.. data.Select(b => (ReadOnlyMemory<byte>)new[] { b })]);
}

/// <summary>Builds frames byte by byte, so tests can say exactly what goes on the wire, valid or not.</summary>
internal sealed class Wire
{
    private readonly List<byte> _bytes = [];

    public Wire U8(int value)
    {
        _bytes.Add((byte)value);
        return this;
    }

    public Wire U16(int value)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)value);
        return Bytes(b);
    }

    public Wire U32(uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, value);
        return Bytes(b);
    }

    public Wire U64(ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, value);
        return Bytes(b);
    }

    public Wire Bytes(ReadOnlySpan<byte> bytes)
    {
        _bytes.AddRange(bytes);
        return this;
    }

    public Wire Zeros(int count) => Bytes(new byte[count]);

    public Wire Str(string text) => RawStr(Encoding.UTF8.GetBytes(text));

    public Wire RawStr(byte[] utf8) => U16(utf8.Length).Bytes(utf8);

    public byte[] Body() => [.. _bytes];

    public byte[] Frame(MessageType type) => Frame((byte)type);

    public byte[] Frame(byte type)
    {
        var frame = new byte[FrameCodec.HeaderSize + _bytes.Count];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)(1 + _bytes.Count));
        frame[FrameCodec.LengthPrefixSize] = type;
        _bytes.CopyTo(frame, FrameCodec.HeaderSize);
        return frame;
    }
}

/// <summary>Hands out spans just big enough for each request, so writers must cope with many small buffers.</summary>
internal sealed class StingyBufferWriter(int spanSize) : IBufferWriter<byte>
{
    private readonly List<byte> _written = [];
    private byte[] _current = [];

    public byte[] WrittenBytes => [.. _written];

    public void Advance(int count)
    {
        if (count > _current.Length) throw new InvalidOperationException("advanced past the span handed out");
        _written.AddRange(_current.AsSpan(0, count));
        _current = [];
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        _current = new byte[Math.Max(sizeHint, spanSize)];
        return _current;
    }

    public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;
}

internal static class Samples
{
    public static readonly NetworkId Network = new(new Guid("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"));

    public static Hash256 HashOf(int seed) => Hash256.Compute(BitConverter.GetBytes(seed));

    public static FileId FileOf(int seed) => new(HashOf(seed));

    public static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static Bitfield Bits(int length, params int[] set)
    {
        var field = new Bitfield(length);
        foreach (var i in set) field.Set(i);
        return field;
    }

    public static readonly DeviceId Device = DeviceId.FromBytes(Pattern(Hash256.Size, 42));

    /// <summary>rw-r--r--, written in binary because C# has no octal literals.</summary>
    public const uint FileMode = 0b110_100_100;

    public static VersionVector Version(params (ulong Device, ulong Value)[] counters) =>
        VersionVector.FromCounters(counters.Select(c => new VersionCounter(c.Device, c.Value)));

    /// <summary>Every counter a version may hold, with the extreme device keys and values.</summary>
    public static readonly VersionVector FullVersion = VersionVector.FromCounters(
        Enumerable.Range(0, VersionVector.MaxCounters).Select(i => new VersionCounter(ulong.MaxValue - (ulong)i, ulong.MaxValue - (ulong)i)));

    public static Manifest ManifestOf(params int[] lengths) =>
        Manifest.FromLengthsAndHashes([.. lengths.Select((length, i) => (length, HashOf(1000 + i)))]);

    /// <summary>A live file; its manifest goes along unless <paramref name="withManifest"/> is false.</summary>
    public static FileRecord LiveFileRecord(string path, Manifest manifest, long sequence = 1, bool withManifest = true) =>
        new(path, EntryKind.File, false, manifest.Size, 1_700_000_000_123_456_789, FileMode, Device, Version((1, 2), (7, 1)), sequence, manifest.Id,
            withManifest ? manifest : null);

    public static FileRecord DirectoryRecord(string path, bool deleted = false, long sequence = 1) =>
        new(path, EntryKind.Directory, deleted, 0, -1, 0b111_101_101, Device, Version((3, 4)), sequence, default, null);

    public static FileRecord DeletionRecord(string path, long sequence = 1) =>
        new(path, EntryKind.File, true, 0, 0, 0, Device, Version((1, 3)), sequence, default, null);

    /// <summary>At least one of every message type, including edge values.</summary>
    public static readonly Message[] All =
    [
        new Hello(1, Network, Pattern(Hello.NonceSize, 1), "laptop — ünïcødé 🐟", 40123),
        new Hello(ushort.MaxValue, default, new byte[Hello.NonceSize], "", 0),
        new Hello(1, Network, Pattern(Hello.NonceSize, 3), "behind a nat", 7420, "[2001:db8::7]:41000"),
        new Auth(Pattern(Auth.ProofSize, 2)),
        new Close(CloseReason.Banned, "go away"),
        new Close(CloseReason.Normal, ""),
        new Close(CloseReason.Timeout, "idle"),
        new Close(CloseReason.Busy, "64 peers connected", 10),
        new Close(CloseReason.Busy, "", ushort.MaxValue),
        new Ping(0),
        new Ping(ulong.MaxValue),
        new Pong(0x0102030405060708),
        new Inventory(true, []),
        new Inventory(false,
        [
            new InventoryEntry(FileOf(1), "movie.mkv", 123_456_789, 118, null),
            new InventoryEntry(FileOf(2), "partial.iso", 13_000_000, 13, Bits(13, 0, 5, 12)),
            new InventoryEntry(FileOf(3), "", 0, 0, null),
            new InventoryEntry(FileOf(4), "empty-partial", 0, 0, new Bitfield(0)),
            new InventoryEntry(FileOf(5), "huge", long.MaxValue, Manifest.MaxChunkCount, null),
            new InventoryEntry(FileOf(6), "eight", 8_000_000, 8, Bitfield.Full(8)),
        ]),
        new Have(FileOf(7), 0),
        new Have(FileOf(8), int.MaxValue),
        new Removed(FileOf(9)),
        new Revoked([]),
        new Revoked([DeviceId.FromBytes(Enumerable.Repeat((byte)7, 32).ToArray()), DeviceId.FromBytes(Enumerable.Repeat((byte)8, 32).ToArray())]),
        new ManifestRequest(uint.MaxValue, FileOf(10), int.MaxValue),
        new ManifestRequest(0, FileOf(11), 0),
        new ManifestResponse(7, 10, 3, 0, [(4, HashOf(1)), (3, HashOf(2)), (3, HashOf(3))]),
        new ManifestResponse(8, 0, 0, 0, []),
        new ManifestResponse(9, long.MaxValue, Manifest.MaxChunkCount, Manifest.MaxChunkCount - 1, [(ChunkingParameters.MaxSize, HashOf(4))]),
        new ChunkRequest(10, FileOf(12), 42),
        new ChunkResponse(11, Pattern(1000, 3)),
        new ChunkResponse(12, ReadOnlyMemory<byte>.Empty),
        new ErrorResponse(13, ErrorCode.NotFound, "no such file"),
        new ErrorResponse(14, ErrorCode.Internal, ""),
        new Cancel(15),
        new IndexRequest("music", 0, 0),
        new IndexRequest(string.Concat(Enumerable.Repeat("é", IndexRequest.MaxFolderBytes / 2)), ulong.MaxValue, long.MaxValue),
        new IndexUpdate("photos", 1, true, []),
        new IndexUpdate("docs", ulong.MaxValue, false,
        [
            LiveFileRecord("a/readme.txt", ManifestOf(10, 20, 5)),
            LiveFileRecord("empty", ManifestOf(), sequence: 2),
            LiveFileRecord("großes Bild 🐟.png", ManifestOf(100), sequence: 3, withManifest: false),
            DirectoryRecord("a", sequence: 4),
            DirectoryRecord("old dir", deleted: true, sequence: 5),
            DeletionRecord("gone.txt", sequence: 6),
            new("x", EntryKind.File, false, long.MaxValue, long.MinValue, IndexUpdate.MaxPermissions, default, FullVersion, long.MaxValue, FileOf(20), null),
            new("y", EntryKind.File, true, long.MaxValue, long.MaxValue, 0, Device, VersionVector.Empty, 0, default, null),
        ]),
        new StoreChunk(16, FileOf(21), 0, Pattern(1000, 6)),
        new StoreChunk(uint.MaxValue, FileOf(22), int.MaxValue, new byte[] { 0 }),
        new StoreResult(17, StoreOutcome.Stored),
        new StoreResult(uint.MaxValue, StoreOutcome.Deleted),
        new StoreResult(0, StoreOutcome.HashMismatch),
        new PutRecords([]),
        new PutRecords(
        [
            new PutRecord(FileOf(23), "report — ünïcødé 🐟.pdf", 123_456_789, 118, 3, 638_000_000_000_000_000, Device, false),
            new PutRecord(FileOf(24), "", 0, 0, 1, long.MinValue, default, true),
            new PutRecord(FileOf(25), "huge", long.MaxValue, Manifest.MaxChunkCount, PutRecord.MaxReplicas, long.MaxValue, Device, false),
        ]),
        new StoreStatus(0, 0),
        new StoreStatus(long.MaxValue, 1_234_567),
        new StoredChunks(FileOf(26), Bits(13, 0, 5, 12)),
        new StoredChunks(FileOf(27), new Bitfield(0)),
        new StoredChunks(FileOf(28), Bitfield.Full(8)),
        new StoredChunks(FileOf(29), Bits(17)),
    ];

    public static TheoryData<int> Indices()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < All.Length; i++) data.Add(i);
        return data;
    }

    /// <summary>Field-by-field comparison: records holding arrays or lists compare those by reference otherwise.</summary>
    public static void AssertSame(Message expected, Message? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.GetType(), actual.GetType());
        switch (expected)
        {
            case Hello e:
                var hello = (Hello)actual;
                Assert.Equal(e.ProtocolVersion, hello.ProtocolVersion);
                Assert.Equal(e.Network, hello.Network);
                Assert.Equal(e.Nonce, hello.Nonce);
                Assert.Equal(e.Name, hello.Name);
                Assert.Equal(e.ListenPort, hello.ListenPort);
                break;
            case Auth e:
                Assert.Equal(e.Proof, ((Auth)actual).Proof);
                break;
            case Revoked e:
                Assert.Equal(e.Devices, ((Revoked)actual).Devices);
                break;
            case Inventory e:
                var inventory = (Inventory)actual;
                Assert.Equal(e.Reset, inventory.Reset);
                Assert.Equal(e.Entries.Count, inventory.Entries.Count);
                for (var i = 0; i < e.Entries.Count; i++)
                {
                    var (x, y) = (e.Entries[i], inventory.Entries[i]);
                    Assert.Equal((x.Id, x.Name, x.Size, x.ChunkCount, x.IsComplete), (y.Id, y.Name, y.Size, y.ChunkCount, y.IsComplete));
                    Assert.Equal(x.Chunks?.ToArray(), y.Chunks?.ToArray());
                    Assert.Equal(x.Chunks?.SetCount, y.Chunks?.SetCount);
                    Assert.Equal(x.Chunks?.Length, y.Chunks?.Length);
                }

                break;
            case ManifestResponse e:
                var manifest = (ManifestResponse)actual;
                Assert.Equal((e.RequestId, e.FileSize, e.TotalChunks, e.FirstChunk), (manifest.RequestId, manifest.FileSize, manifest.TotalChunks, manifest.FirstChunk));
                Assert.Equal(e.Entries, manifest.Entries);
                break;
            case IndexUpdate e:
                var update = (IndexUpdate)actual;
                Assert.Equal((e.Folder, e.Epoch, e.Reset), (update.Folder, update.Epoch, update.Reset));
                Assert.Equal(e.Records.Count, update.Records.Count);
                for (var i = 0; i < e.Records.Count; i++) AssertSameRecord(e.Records[i], update.Records[i]);
                break;
            case ChunkResponse e:
                var chunk = (ChunkResponse)actual;
                Assert.Equal(e.RequestId, chunk.RequestId);
                Assert.Equal(e.Data.ToArray(), chunk.Data.ToArray());
                break;
            case StoreChunk e:
                var store = (StoreChunk)actual;
                Assert.Equal((e.RequestId, e.File, e.ChunkIndex), (store.RequestId, store.File, store.ChunkIndex));
                Assert.Equal(e.Data.ToArray(), store.Data.ToArray());
                break;
            case PutRecords e:
                Assert.Equal(e.Records, ((PutRecords)actual).Records);
                break;
            case StoredChunks e:
                var stored = (StoredChunks)actual;
                Assert.Equal((e.File, e.Chunks.Length, e.Chunks.SetCount), (stored.File, stored.Chunks.Length, stored.Chunks.SetCount));
                Assert.Equal(e.Chunks.ToArray(), stored.Chunks.ToArray());
                break;
            default:
                Assert.Equal(expected, actual);
                break;
        }
    }

    /// <summary>A manifest has no value equality, so it is compared by id and chunk list.</summary>
    public static void AssertSameRecord(FileRecord expected, FileRecord actual)
    {
        Assert.Equal(expected with { Manifest = null }, actual with { Manifest = null });
        Assert.Equal(expected.Manifest?.Id, actual.Manifest?.Id);
        Assert.Equal(expected.Manifest?.Chunks, actual.Manifest?.Chunks);
    }
}
