using Shoal.Core;
using Shoal.Core.Folder;

namespace Shoal.Sync.Tests;

/// <summary>Builds records and vectors tersely, so each test shows only the fields it is about.</summary>
internal static class Records
{
    public static DeviceId Device(byte seed) => DeviceId.FromBytes(Filled(seed));

    public static FileId Content(byte seed) => FileId.FromBytes(Filled(seed));

    public static VersionVector Version(params (ulong Device, ulong Value)[] counters) =>
        VersionVector.FromCounters(counters.Select(c => new VersionCounter(c.Device, c.Value)));

    public static FileRecord File(
        VersionVector version,
        byte content = 1,
        long modifiedUnixNs = 1_000,
        byte device = 1,
        uint permissions = 0b110_100_100,
        string path = "a.txt") =>
        new(path, EntryKind.File, Deleted: false, Size: 10, modifiedUnixNs, permissions, Device(device), version, Sequence: 1, Content(content), Manifest: null);

    public static FileRecord Directory(VersionVector version, long modifiedUnixNs = 1_000, byte device = 1, uint permissions = 0b111_101_101) =>
        new("a.txt", EntryKind.Directory, Deleted: false, Size: 0, modifiedUnixNs, permissions, Device(device), version, Sequence: 1, default, Manifest: null);

    public static FileRecord Deleted(VersionVector version, long modifiedUnixNs = 1_000, byte device = 1, EntryKind kind = EntryKind.File) =>
        new("a.txt", kind, Deleted: true, Size: 0, modifiedUnixNs, Permissions: 0, Device(device), version, Sequence: 1, default, Manifest: null);

    public static VersionVector RandomVersion(Random random, int maxDevices = 4, int maxValue = 3)
    {
        var counters = new List<VersionCounter>();
        for (ulong device = 1; device <= (ulong)maxDevices; device++)
        {
            var value = random.Next(maxValue + 1);
            if (value > 0) counters.Add(new VersionCounter(device, (ulong)value));
        }

        return VersionVector.FromCounters(counters);
    }

    /// <summary>Small value ranges on purpose, so ties in every field the conflict rule looks at are common.</summary>
    public static FileRecord RandomRecord(Random random)
    {
        var version = RandomVersion(random);
        var time = random.Next(3);
        var device = (byte)random.Next(1, 3);
        return random.Next(4) switch
        {
            0 => Deleted(version, time, device),
            1 => Directory(version, time, device, permissions: (uint)random.Next(2)),
            _ => File(version, (byte)random.Next(1, 3), time, device, (uint)random.Next(2)),
        };
    }

    private static byte[] Filled(byte seed) => Enumerable.Repeat(seed, Hash256.Size).ToArray();
}
