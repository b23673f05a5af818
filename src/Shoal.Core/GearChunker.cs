using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Shoal.Core;

/// <summary>
/// FastCDC-style content-defined chunking. Cut points follow the content, so an insertion or deletion only
/// changes the chunks around it and the rest of a file keeps its chunk hashes.
/// </summary>
/// <remarks>
/// Part of the file id's definition; changing anything here changes every id:
/// <list type="bullet">
/// <item>Gear table: <c>Gear[b]</c> is the first 8 bytes, read big-endian, of SHA-256 over the ASCII text
/// <c>shoal-gear-v1</c> followed by the single byte <c>b</c>.</item>
/// <item>Rolling hash: starts at 0 at offset <see cref="ChunkingParameters.MinSize"/> of the chunk (the bytes
/// before it are never hashed) and for each byte <c>b</c> becomes <c>(hash &lt;&lt; 1) + Gear[b]</c>, mod 2^64.</item>
/// <item>Cut: after hashing the byte at offset <c>i</c>, the chunk ends (length <c>i + 1</c>) if
/// <c>hash &amp; mask == 0</c>. Below <see cref="ChunkingParameters.AverageSize"/> the mask is the 22 bits
/// 41..62, from there on the 18 bits 45..62 (normalized chunking: cuts are rarer before the average and
/// likelier after it, which narrows the size spread).</item>
/// <item>A chunk that reaches <see cref="ChunkingParameters.MaxSize"/> without a cut ends there; the last chunk
/// of a file ends with the file.</item>
/// </list>
/// The masks use the high bits because bit <c>k</c> of a gear hash depends on the last <c>k + 1</c> bytes only,
/// so high bits give a window of 40 to 63 bytes. Bit 63 is left out so two bytes can be hashed per step.
/// </remarks>
public static class GearChunker
{
    private const ulong MaskBelowAverage = ((1UL << 22) - 1) << 41;
    private const ulong MaskAboveAverage = ((1UL << 18) - 1) << 45;

    private static readonly ulong[] Gear = CreateGearTable();

    // Gear shifted left by one, so that (hash << 2) + GearShifted[a] is (hash after a) << 1. Testing that
    // against the mask shifted left by one is the same test as on the hash after a, and adding Gear[b] then
    // yields the hash after b: two bytes cost one shift instead of two on the hash's dependency chain.
    private static readonly ulong[] GearShifted = Array.ConvertAll(Gear, g => g << 1);

    /// <summary>
    /// The length of the chunk that starts at <paramref name="data"/>[0], or 0 if it cannot be known yet: no cut
    /// was found, <paramref name="data"/> is shorter than <see cref="ChunkingParameters.MaxSize"/> and more data
    /// follows (<paramref name="isFinal"/> is false). With <paramref name="isFinal"/>, the rest of the data is
    /// chunked as the end of the file, so a result of 0 means <paramref name="data"/> is empty.
    /// </summary>
    public static int FindBoundary(ReadOnlySpan<byte> data, bool isFinal)
    {
        var length = data.Length;
        if (length <= ChunkingParameters.MinSize)
        {
            return isFinal ? length : 0;
        }

        var limit = Math.Min(length, ChunkingParameters.MaxSize);
        var average = Math.Min(limit, ChunkingParameters.AverageSize);
        var cut = Scan(ref MemoryMarshal.GetReference(data), ChunkingParameters.MinSize, average, limit);
        if (cut > 0)
        {
            return cut;
        }

        return length >= ChunkingParameters.MaxSize || isFinal ? limit : 0;
    }

    private static int Scan(ref byte data, nint start, nint average, nint limit)
    {
        ref var gear = ref MemoryMarshal.GetArrayDataReference(Gear);
        ref var gearShifted = ref MemoryMarshal.GetArrayDataReference(GearShifted);
        ulong hash = 0;
        var i = start;

        for (; i + 2 <= average; i += 2)
        {
            hash = (hash << 2) + Unsafe.Add(ref gearShifted, Unsafe.Add(ref data, i));
            if ((hash & (MaskBelowAverage << 1)) == 0) return (int)i + 1;
            hash += Unsafe.Add(ref gear, Unsafe.Add(ref data, i + 1));
            if ((hash & MaskBelowAverage) == 0) return (int)i + 2;
        }

        for (; i < average; i++)
        {
            hash = (hash << 1) + Unsafe.Add(ref gear, Unsafe.Add(ref data, i));
            if ((hash & MaskBelowAverage) == 0) return (int)i + 1;
        }

        for (; i + 2 <= limit; i += 2)
        {
            hash = (hash << 2) + Unsafe.Add(ref gearShifted, Unsafe.Add(ref data, i));
            if ((hash & (MaskAboveAverage << 1)) == 0) return (int)i + 1;
            hash += Unsafe.Add(ref gear, Unsafe.Add(ref data, i + 1));
            if ((hash & MaskAboveAverage) == 0) return (int)i + 2;
        }

        for (; i < limit; i++)
        {
            hash = (hash << 1) + Unsafe.Add(ref gear, Unsafe.Add(ref data, i));
            if ((hash & MaskAboveAverage) == 0) return (int)i + 1;
        }

        return 0;
    }

    private static ulong[] CreateGearTable()
    {
        ReadOnlySpan<byte> seed = "shoal-gear-v1"u8;
        Span<byte> input = stackalloc byte[seed.Length + 1];
        seed.CopyTo(input);
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        var table = new ulong[256];
        for (var b = 0; b < table.Length; b++)
        {
            input[^1] = (byte)b;
            SHA256.HashData(input, digest);
            table[b] = BinaryPrimitives.ReadUInt64BigEndian(digest);
        }

        return table;
    }
}
