using System.Security.Cryptography;
using Shoal.Core;
using Shoal.Core.Folder;
using Shoal.Net;
using Shoal.Protocol;
using Shoal.Protocol.Tests;
using static Shoal.Protocol.Tests.Samples;

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

    public static readonly DeviceId Alice = DeviceId.FromBytes(Pattern(Hash256.Size, 1));
    public static readonly DeviceId Bob = DeviceId.FromBytes(Pattern(Hash256.Size, 2));

    /// <summary>rw-r--r--.</summary>
    public const uint FileMode = 0b110_100_100;

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

    /// <summary>At least one message of every type, with edge values (the protocol tests' samples), and the index traffic.</summary>
    public static readonly Message[] Messages = [.. Samples.All, .. IndexMessages];
}
