using Shoal.Core;

namespace Shoal.Swarm.Tests;

/// <summary>Random content with its manifest.</summary>
public sealed class TestFile
{
    private TestFile(byte[] content, Manifest manifest)
    {
        Content = content;
        Manifest = manifest;
    }

    public byte[] Content { get; }

    public Manifest Manifest { get; }

    public int ChunkCount => Manifest.ChunkCount;

    public static TestFile Create(int seed, params int[] lengths)
    {
        var random = new Random(seed);
        var content = new byte[lengths.Sum()];
        random.NextBytes(content);
        var entries = new List<(int, Hash256)>();
        var offset = 0;
        foreach (var length in lengths)
        {
            entries.Add((length, Hash256.Compute(content.AsSpan(offset, length))));
            offset += length;
        }

        return new TestFile(content, Manifest.FromLengthsAndHashes(entries));
    }

    public static TestFile Uniform(int chunkCount, int chunkLength, int seed = 1) =>
        Create(seed, Enumerable.Repeat(chunkLength, chunkCount).ToArray());

    /// <summary>Chunk lengths vary, so length bookkeeping is exercised.</summary>
    public static TestFile Varied(int chunkCount, int seed = 1)
    {
        var random = new Random(seed);
        return Create(seed, Enumerable.Range(0, chunkCount).Select(_ => random.Next(500, 5000)).ToArray());
    }

    public byte[] Chunk(int index)
    {
        var chunk = Manifest[index];
        return Content.AsSpan((int)chunk.Offset, chunk.Length).ToArray();
    }

    public static Bitfield Bits(int length, IEnumerable<int> set)
    {
        var bits = new Bitfield(length);
        foreach (var index in set) bits.Set(index);
        return bits;
    }
}
