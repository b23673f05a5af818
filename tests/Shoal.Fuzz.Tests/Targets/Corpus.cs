using System.Security.Cryptography;
using Shoal.Core;
using Shoal.Core.Folder;
using Shoal.Net;
using Shoal.Protocol;

namespace Shoal.Fuzz.Tests.Targets;

/// <summary>
/// Valid inputs built through the public constructors and encoders, from fixed values only (no clock, no random
/// generator), so every run starts from the same bytes.
/// </summary>
internal static class Corpus
{
    public static readonly NetworkId Network = new(new Guid("5f0e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"));

    /// <summary>The network every target's membership belongs to; its secret is fixed, so proofs and keys are too.</summary>
    public static readonly NetworkMembership Membership = new(Network, SHA256.HashData("shoal fuzz network"u8));

    public static readonly DeviceId Alice = DeviceId.FromBytes(Bytes(Hash256.Size, 1));
    public static readonly DeviceId Bob = DeviceId.FromBytes(Bytes(Hash256.Size, 2));

    /// <summary>rw-r--r--.</summary>
    public const uint FileMode = 0b110_100_100;

    public static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static Hash256 HashOf(int seed) => Hash256.Compute(BitConverter.GetBytes(seed));

    public static FileId FileOf(int seed) => new(HashOf(seed));

    public static Bitfield Bits(int length, params int[] set)
    {
        var field = new Bitfield(length);
        foreach (var i in set) field.Set(i);
        return field;
    }

    public static VersionVector Version(params (ulong Device, ulong Value)[] counters) =>
        VersionVector.FromCounters(counters.Select(c => new VersionCounter(c.Device, c.Value)));

    public static Manifest ManifestOf(params int[] lengths) =>
        Manifest.FromLengthsAndHashes([.. lengths.Select((length, i) => (length, HashOf(1000 + i)))]);

    public static FileRecord LiveFile(string path, Manifest manifest, long sequence, bool inline = true) =>
        new(path, EntryKind.File, false, manifest.Size, 1_700_000_000_123_456_789, FileMode, Alice, Version((1, 2), (7, 1)), sequence, manifest.Id,
            inline ? manifest : null);

    public static FileRecord Directory(string path, long sequence, bool deleted = false) =>
        new(path, EntryKind.Directory, deleted, 0, 1_700_000_000_000_000_000, 0b111_101_101, Bob, Version((3, 4)), sequence, default, null);

    public static FileRecord Deletion(string path, long sequence) =>
        new(path, EntryKind.File, true, 0, 1_700_000_001_000_000_000, 0, Bob, Version((1, 3), (2, 1)), sequence, default, null);

    /// <summary>Index traffic: requests and updates with every kind of record, and paths the codec carries but the sync layer refuses.</summary>
    public static readonly Message[] IndexMessages =
    [
        new IndexRequest("music", 0, 0),
        new IndexRequest("photos", 7, 42),
        new IndexRequest(string.Concat(Enumerable.Repeat("é", IndexRequest.MaxFolderBytes / 2)), ulong.MaxValue, long.MaxValue),
        new IndexUpdate("photos", 1, true, []),
        new IndexUpdate("docs", 3, false,
        [
            LiveFile("a/readme.txt", ManifestOf(10, 20, 5), 1),
            LiveFile("empty", ManifestOf(), 2),
            LiveFile("großes Bild 🐟.png", ManifestOf(100), 3, inline: false),
            Directory("a", 4),
            Directory("old dir", 5, deleted: true),
            Deletion("gone.txt", 6),
        ]),
        new IndexUpdate("docs", ulong.MaxValue, false,
        [
            new("x", EntryKind.File, false, long.MaxValue, long.MinValue, IndexUpdate.MaxPermissions, default,
                VersionVector.FromCounters(Enumerable.Range(0, 8).Select(i => new VersionCounter(ulong.MaxValue - (ulong)i, ulong.MaxValue))),
                long.MaxValue, FileOf(20), null),
            new("y", EntryKind.File, true, long.MaxValue, long.MaxValue, 0, Alice, VersionVector.Empty, 0, default, null),
        ]),
        new IndexUpdate("work", 9, true,
        [
            LiveFile("src/main.c", ManifestOf(1, 2, 3, 4), 10),
            LiveFile("src/main.c", ManifestOf(1, 2, 3, 5), 11) with { ModifiedBy = Bob, Version = Version((1, 2), (2, 1)) },
            Directory("src", 12),
            Directory("src/deep/er/still", 13),
        ]),

        // Well-formed on the wire, but no path a folder may hold: the sync layer, not the codec, refuses these.
        new IndexUpdate("hostile", 2, false,
        [
            LiveFile("../escape", ManifestOf(7), 1),
            LiveFile("/etc/passwd", ManifestOf(7), 2),
            LiveFile("a//b", ManifestOf(7), 3),
            LiveFile("C:win", ManifestOf(7), 4),
            LiveFile("back\\slash", ManifestOf(7), 5),
            LiveFile("dir/.shoal-tmp.abc", ManifestOf(7), 6),
            LiveFile("a/./b", ManifestOf(7), 7),
            LiveFile("trailing/", ManifestOf(7), 8),
            LiveFile("con", ManifestOf(7), 9),
            Directory("tab\there", 10),
        ]),
    ];

    /// <summary>At least one message of every type, with edge values.</summary>
    public static readonly Message[] Messages =
    [
        new Hello(1, Network, Bytes(Hello.NonceSize, 1), "laptop — ünïcødé 🐟", 40123),
        new Hello(ushort.MaxValue, default, new byte[Hello.NonceSize], "", 0),
        new Auth(Bytes(Auth.ProofSize, 2)),
        new Close(CloseReason.Banned, "go away"),
        new Close(CloseReason.Normal, ""),
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
        ]),
        new Have(FileOf(7), 0),
        new Have(FileOf(8), int.MaxValue),
        new Removed(FileOf(9)),
        new Revoked([]),
        new Revoked([Alice, Bob]),
        new ManifestRequest(uint.MaxValue, FileOf(10), int.MaxValue),
        new ManifestResponse(7, 10, 3, 0, [(4, HashOf(1)), (3, HashOf(2)), (3, HashOf(3))]),
        new ManifestResponse(8, 0, 0, 0, []),
        new ManifestResponse(9, long.MaxValue, Manifest.MaxChunkCount, Manifest.MaxChunkCount - 1, [(ChunkingParameters.MaxSize, HashOf(4))]),
        new ChunkRequest(10, FileOf(12), 42),
        new ChunkResponse(11, Bytes(300, 3)),
        new ChunkResponse(12, ReadOnlyMemory<byte>.Empty),
        new ErrorResponse(13, ErrorCode.NotFound, "no such file"),
        new ErrorResponse(14, ErrorCode.Internal, ""),
        new Cancel(15),
        .. IndexMessages.Take(5),
        new StoreChunk(16, FileOf(21), 0, Bytes(300, 6)),
        new StoreChunk(uint.MaxValue, FileOf(22), int.MaxValue, new byte[] { 0 }),
        new StoreResult(17, StoreOutcome.Stored),
        new StoreResult(0, StoreOutcome.HashMismatch),
        new PutRecords([]),
        new PutRecords(
        [
            new PutRecord(FileOf(23), "report — ünïcødé 🐟.pdf", 123_456_789, 118, 3, 638_000_000_000_000_000, Alice, false),
            new PutRecord(FileOf(24), "", 0, 0, 1, long.MinValue, default, true),
            new PutRecord(FileOf(25), "huge", long.MaxValue, Manifest.MaxChunkCount, PutRecord.MaxReplicas, long.MaxValue, Bob, false),
        ]),
        new StoreStatus(0, 0),
        new StoreStatus(long.MaxValue, 1_234_567),
        new StoredChunks(FileOf(26), Bits(13, 0, 5, 12)),
        new StoredChunks(FileOf(27), new Bitfield(0)),
        new StoredChunks(FileOf(28), Bitfield.Full(8)),
    ];
}
