using System.Numerics;

namespace Shoal.Core;

/// <summary>One bit per chunk. Not thread-safe: owners lock around it.</summary>
public sealed class Bitfield
{
    private readonly byte[] _bits;

    public Bitfield(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        _bits = new byte[ByteLength(length)];
    }

    private Bitfield(int length, byte[] bits, int setCount)
    {
        Length = length;
        _bits = bits;
        SetCount = setCount;
    }

    public int Length { get; }

    public int SetCount { get; private set; }

    public bool IsComplete => SetCount == Length;

    public bool IsEmpty => SetCount == 0;

    public static int ByteLength(int length) => (length + 7) / 8;

    public static Bitfield Full(int length)
    {
        var field = new Bitfield(length);
        for (var i = 0; i < length; i++) field.Set(i);
        return field;
    }

    /// <summary>Rejects wrong lengths and stray bits past the end, so a peer cannot claim chunks that do not exist.</summary>
    public static bool TryFromBytes(int length, ReadOnlySpan<byte> bytes, out Bitfield field)
    {
        field = null!;
        if (length < 0 || bytes.Length != ByteLength(length)) return false;
        var spare = (bytes.Length * 8) - length;
        if (spare > 0 && (bytes[^1] & ((1 << spare) - 1)) != 0) return false;
        var count = 0;
        foreach (var b in bytes) count += BitOperations.PopCount(b);
        field = new Bitfield(length, bytes.ToArray(), count);
        return true;
    }

    public static Bitfield FromBytes(int length, ReadOnlySpan<byte> bytes) =>
        TryFromBytes(length, bytes, out var field) ? field : throw new FormatException("bitfield does not match its length");

    public bool this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Length, nameof(index));
            return (_bits[index >> 3] & (0x80 >> (index & 7))) != 0;
        }
    }

    public bool Set(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Length, nameof(index));
        ref var b = ref _bits[index >> 3];
        var mask = (byte)(0x80 >> (index & 7));
        if ((b & mask) != 0) return false;
        b |= mask;
        SetCount++;
        return true;
    }

    public bool Clear(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Length, nameof(index));
        ref var b = ref _bits[index >> 3];
        var mask = (byte)(0x80 >> (index & 7));
        if ((b & mask) == 0) return false;
        b &= (byte)~mask;
        SetCount--;
        return true;
    }

    public ReadOnlySpan<byte> AsSpan() => _bits;

    public byte[] ToArray() => (byte[])_bits.Clone();

    public Bitfield Clone() => new(Length, ToArray(), SetCount);

    public IEnumerable<int> SetIndices()
    {
        for (var i = 0; i < Length; i++)
        {
            if (this[i]) yield return i;
        }
    }
}
