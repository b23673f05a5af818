using System.Buffers.Binary;

namespace Shoal.Core.Folder;

/// <summary>How two versions of one path relate.</summary>
public enum Causality
{
    Equal,

    /// <summary>This version has seen everything the other has, and more.</summary>
    Newer,

    /// <summary>The other version has seen everything this one has, and more.</summary>
    Older,

    /// <summary>Each has changes the other has not seen: two edits made without knowing of each other.</summary>
    Concurrent,
}

/// <summary>One device's counter in a <see cref="VersionVector"/>. <see cref="Device"/> is <see cref="VersionVector.KeyOf"/>.</summary>
public readonly record struct VersionCounter(ulong Device, ulong Value);

/// <summary>
/// Which edits of a path a version has seen: one counter per device that edited it. Immutable; counters are kept
/// sorted by device and never zero, so equal histories have equal vectors.
/// </summary>
public sealed class VersionVector : IEquatable<VersionVector>
{
    /// <summary>Bounds what a peer can make us hold per record; a path edited on more devices than this is absurd.</summary>
    public const int MaxCounters = 256;

    private readonly VersionCounter[] _counters;

    private VersionVector(VersionCounter[] counters) => _counters = counters;

    public static VersionVector Empty { get; } = new([]);

    public IReadOnlyList<VersionCounter> Counters => _counters;

    public bool IsEmpty => _counters.Length == 0;

    /// <summary>The short device key used in vectors: the first 8 bytes of the device id.</summary>
    public static ulong KeyOf(DeviceId device)
    {
        Span<byte> bytes = stackalloc byte[Hash256.Size];
        device.Value.CopyTo(bytes);
        return BinaryPrimitives.ReadUInt64BigEndian(bytes);
    }

    /// <summary>Builds a vector from counters in any order; duplicate devices and zero counters are rejected.</summary>
    public static VersionVector FromCounters(IEnumerable<VersionCounter> counters)
    {
        ArgumentNullException.ThrowIfNull(counters);
        var sorted = counters.ToArray();
        if (sorted.Length > MaxCounters) throw new ArgumentException($"A version has at most {MaxCounters} counters.", nameof(counters));
        Array.Sort(sorted, static (a, b) => a.Device.CompareTo(b.Device));
        for (var i = 0; i < sorted.Length; i++)
        {
            if (sorted[i].Value == 0) throw new ArgumentException("A version counter is never zero.", nameof(counters));
            if (i > 0 && sorted[i].Device == sorted[i - 1].Device) throw new ArgumentException("A device appears twice in a version.", nameof(counters));
        }

        return sorted.Length == 0 ? Empty : new VersionVector(sorted);
    }

    public ulong Get(ulong device)
    {
        foreach (var counter in _counters)
        {
            if (counter.Device == device) return counter.Value;
        }

        return 0;
    }

    /// <summary>
    /// Records an edit by <paramref name="device"/>. The counter becomes at least <paramref name="atLeast"/> (a
    /// clock reading, in seconds), so a device whose database was lost still produces versions newer than its old ones.
    /// </summary>
    public VersionVector Increment(ulong device, ulong atLeast = 0)
    {
        var next = Math.Max(Get(device) + 1, atLeast);
        var counters = _counters.Where(c => c.Device != device).Append(new VersionCounter(device, next));
        return FromCounters(counters);
    }

    /// <summary>The smallest vector that has seen both: for adopting a version that has the same content as ours.</summary>
    public VersionVector Merge(VersionVector other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var merged = new Dictionary<ulong, ulong>();
        foreach (var c in _counters) merged[c.Device] = c.Value;
        foreach (var c in other._counters) merged[c.Device] = Math.Max(merged.GetValueOrDefault(c.Device), c.Value);
        return FromCounters(merged.Select(p => new VersionCounter(p.Key, p.Value)));
    }

    /// <summary>How this version relates to <paramref name="other"/>.</summary>
    public Causality Compare(VersionVector other)
    {
        ArgumentNullException.ThrowIfNull(other);
        bool ahead = false, behind = false;
        int i = 0, j = 0;
        while (i < _counters.Length || j < other._counters.Length)
        {
            ulong mine, theirs;
            if (j >= other._counters.Length || (i < _counters.Length && _counters[i].Device < other._counters[j].Device))
            {
                mine = _counters[i++].Value;
                theirs = 0;
            }
            else if (i >= _counters.Length || other._counters[j].Device < _counters[i].Device)
            {
                mine = 0;
                theirs = other._counters[j++].Value;
            }
            else
            {
                mine = _counters[i++].Value;
                theirs = other._counters[j++].Value;
            }

            ahead |= mine > theirs;
            behind |= mine < theirs;
        }

        return (ahead, behind) switch
        {
            (false, false) => Causality.Equal,
            (true, false) => Causality.Newer,
            (false, true) => Causality.Older,
            _ => Causality.Concurrent,
        };
    }

    public bool Equals(VersionVector? other) => other is not null && _counters.AsSpan().SequenceEqual(other._counters);

    public override bool Equals(object? obj) => Equals(obj as VersionVector);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var c in _counters) hash.Add(c);
        return hash.ToHashCode();
    }

    /// <summary>Encoded size: u16 count, then per counter u64 device and u64 value, big-endian.</summary>
    public int SerializedSize => 2 + (_counters.Length * 16);

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)_counters.Length);
        var offset = 2;
        foreach (var c in _counters)
        {
            BinaryPrimitives.WriteUInt64BigEndian(destination[offset..], c.Device);
            BinaryPrimitives.WriteUInt64BigEndian(destination[(offset + 8)..], c.Value);
            offset += 16;
        }
    }

    public byte[] ToBytes()
    {
        var bytes = new byte[SerializedSize];
        WriteTo(bytes);
        return bytes;
    }

    /// <summary>Reads an encoded vector from the start of <paramref name="source"/>; false (never an exception) if it is malformed.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out VersionVector version, out int consumed)
    {
        version = Empty;
        consumed = 0;
        if (source.Length < 2) return false;
        var count = BinaryPrimitives.ReadUInt16BigEndian(source);
        if (count > MaxCounters || source.Length < 2 + (count * 16)) return false;
        var counters = new VersionCounter[count];
        for (var i = 0; i < count; i++)
        {
            var at = 2 + (i * 16);
            counters[i] = new VersionCounter(BinaryPrimitives.ReadUInt64BigEndian(source[at..]), BinaryPrimitives.ReadUInt64BigEndian(source[(at + 8)..]));
            if (counters[i].Value == 0 || (i > 0 && counters[i].Device <= counters[i - 1].Device)) return false;
        }

        version = count == 0 ? Empty : new VersionVector(counters);
        consumed = 2 + (count * 16);
        return true;
    }

    public static VersionVector FromBytes(ReadOnlySpan<byte> bytes) =>
        TryRead(bytes, out var version, out var consumed) && consumed == bytes.Length
            ? version
            : throw new FormatException("Not an encoded version vector.");

    public override string ToString() => "{" + string.Join(",", _counters.Select(c => $"{c.Device:x16}:{c.Value}")) + "}";
}
