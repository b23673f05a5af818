using System.Text;
using Shoal.Core;

namespace Shoal.Replication.Tests;

/// <summary>Builds devices, chunk hashes and chunk states tersely, so each test shows only what it is about.</summary>
internal static class Fixtures
{
    public const long MiB = 1024 * 1024;

    public static DeviceId Device(int n) => new(Hash256.Compute(Encoding.UTF8.GetBytes($"device-{n}")));

    public static DeviceId[] Devices(int count) => [.. Enumerable.Range(1, count).Select(Device)];

    public static Hash256 Chunk(int n) => Hash256.Compute(Encoding.UTF8.GetBytes($"chunk-{n}"));

    public static Member[] Members(int count, long freeBytes = 100 * MiB) =>
        [.. Devices(count).Select(d => new Member(d, freeBytes))];

    public static ChunkState State(int index, int length, params DeviceId[] holders) =>
        new(index, Chunk(index), length, new HashSet<DeviceId>(holders));

    public static T[] Shuffled<T>(IEnumerable<T> items, Random random)
    {
        var array = items.ToArray();
        random.Shuffle(array);
        return array;
    }
}
