using System.Security.Cryptography;
using Shoal.Core;

namespace Shoal.Core.Tests;

internal static class TestData
{
    public static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Chunks <paramref name="data"/> in one piece, the way a reader with all of it in memory would.</summary>
    public static List<int> ChunkLengths(ReadOnlySpan<byte> data)
    {
        var lengths = new List<int>();
        var offset = 0;
        int length;
        while ((length = GearChunker.FindBoundary(data[offset..], isFinal: true)) > 0)
        {
            lengths.Add(length);
            offset += length;
        }

        return lengths;
    }

    public static List<Hash256> ChunkHashes(byte[] data)
    {
        var hashes = new List<Hash256>();
        var offset = 0;
        foreach (var length in ChunkLengths(data))
        {
            hashes.Add(new Hash256(SHA256.HashData(data.AsSpan(offset, length))));
            offset += length;
        }

        return hashes;
    }

    public static Hash256 Hash(int seed) => Hash256.Compute(BitConverter.GetBytes(seed));
}
