using System.Buffers.Binary;
using System.Security.Cryptography;
using Shoal.Core;

namespace Shoal.Replication;

/// <summary>
/// Decides which devices should hold a chunk by weighted rendezvous (highest random weight) hashing.
/// Every node computes the same answer from the same inputs, with no coordination, and adding or removing one
/// device only moves the chunks whose best choice was (or becomes) that device.
/// </summary>
/// <remarks>
/// Each (chunk, device) pair gets a pseudo-random <c>u</c> in (0, 1) from SHA-256 over the chunk hash followed by
/// the device id, and scores <c>weight / -ln(u)</c>. Since <c>-ln(u)</c> is exponentially distributed, a device is
/// first with probability proportional to its weight. The formula is part of the wire contract: nodes running
/// different versions must agree on it, so it must not change.
/// </remarks>
public static class Placement
{
    private const long BytesPerWeightUnit = 1024 * 1024;

    /// <summary>
    /// The <paramref name="replicas"/> best devices to hold <paramref name="chunk"/>, best first, among the members
    /// with room for <paramref name="chunkLength"/> bytes; fewer if not enough members have room. Each member is
    /// weighted by its free space (one unit per MiB, at least one), so emptier nodes take proportionally more.
    /// </summary>
    /// <remarks>
    /// The result does not depend on the order of <paramref name="members"/>. A device listed more than once counts
    /// once, with the largest free space it was listed with, so the answer stays order independent.
    /// </remarks>
    public static IReadOnlyList<DeviceId> Choose(Hash256 chunk, int chunkLength, IReadOnlyList<Member> members, int replicas)
    {
        ArgumentNullException.ThrowIfNull(members);
        ArgumentOutOfRangeException.ThrowIfNegative(chunkLength);
        ArgumentOutOfRangeException.ThrowIfNegative(replicas);
        if (replicas == 0) return [];

        var freeByDevice = new Dictionary<DeviceId, long>(members.Count);
        foreach (var member in members)
        {
            ArgumentNullException.ThrowIfNull(member, nameof(members));
            if (member.FreeBytes < chunkLength) continue;
            if (!freeByDevice.TryGetValue(member.Device, out var seen) || member.FreeBytes > seen)
            {
                freeByDevice[member.Device] = member.FreeBytes;
            }
        }

        var scored = new List<Scored>(freeByDevice.Count);
        foreach (var (device, freeBytes) in freeByDevice)
        {
            scored.Add(new Scored(device, Score(chunk, device, Weight(freeBytes))));
        }

        return Best(scored, replicas);
    }

    /// <summary>
    /// All distinct <paramref name="devices"/> ordered best first for <paramref name="chunk"/>, using the same score
    /// as <see cref="Choose"/> but with every device weighted equally. Free space must not sway this order: it picks
    /// which holder repairs a chunk and which surplus copies go, and holders must agree on that even when they
    /// disagree on each other's free space.
    /// </summary>
    public static IReadOnlyList<DeviceId> Rank(Hash256 chunk, IEnumerable<DeviceId> devices)
    {
        ArgumentNullException.ThrowIfNull(devices);
        var scored = new List<Scored>();
        foreach (var device in devices.Distinct())
        {
            scored.Add(new Scored(device, Score(chunk, device, 1.0)));
        }

        return Best(scored, scored.Count);
    }

    private static double Weight(long freeBytes) => Math.Max(1, freeBytes / BytesPerWeightUnit);

    /// <summary>
    /// <c>weight / -ln(u)</c>, where <c>u</c> comes from the top 52 bits of SHA-256(chunk || device) as
    /// <c>(bits + 0.5) / 2^52</c>: exact in a double and strictly inside (0, 1), so the score is always finite.
    /// </summary>
    private static double Score(Hash256 chunk, DeviceId device, double weight)
    {
        Span<byte> input = stackalloc byte[Hash256.Size * 2];
        chunk.CopyTo(input);
        device.Value.CopyTo(input[Hash256.Size..]);
        Span<byte> digest = stackalloc byte[Hash256.Size];
        SHA256.HashData(input, digest);
        var bits = BinaryPrimitives.ReadUInt64BigEndian(digest) >> 12;
        var u = (bits + 0.5) / (1UL << 52);
        return weight / -Math.Log(u);
    }

    /// <summary>Highest score first; equal scores fall back to ascending device id, so the order is total.</summary>
    private static DeviceId[] Best(List<Scored> scored, int count)
    {
        scored.Sort(static (a, b) =>
        {
            var byScore = b.Score.CompareTo(a.Score);
            return byScore != 0 ? byScore : a.Device.CompareTo(b.Device);
        });
        var result = new DeviceId[Math.Min(count, scored.Count)];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = scored[i].Device;
        }

        return result;
    }

    private readonly record struct Scored(DeviceId Device, double Score);
}
