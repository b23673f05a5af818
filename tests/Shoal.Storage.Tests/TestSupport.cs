using Shoal.Core;

namespace Shoal.Storage.Tests;

/// <summary>A fresh directory under the system temp directory, deleted with everything in it on dispose.</summary>
public sealed class TestDirectory : IDisposable
{
    public TestDirectory() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "shoal-storage-tests-" + Guid.NewGuid().ToString("N"));

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    /// <summary>Every entry below the directory, hidden ones included, relative to it.</summary>
    public string[] Entries() =>
        [.. Directory.EnumerateFileSystemEntries(Path, "*", SearchOption.AllDirectories)
            .Select(p => System.IO.Path.GetRelativePath(Path, p))
            .Order(StringComparer.Ordinal)];

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Random content with a manifest over it, chunked at the given lengths.</summary>
public sealed class TestContent
{
    public TestContent(int seed, params int[] chunkLengths)
    {
        Data = new byte[chunkLengths.Sum()];
        new Random(seed).NextBytes(Data);
        var entries = new List<(int Length, Hash256 Hash)>();
        var offset = 0;
        foreach (var length in chunkLengths)
        {
            entries.Add((length, Hash256.Compute(Data.AsSpan(offset, length))));
            offset += length;
        }

        Manifest = Manifest.FromLengthsAndHashes(entries);
    }

    public byte[] Data { get; }

    public Manifest Manifest { get; }

    public ReadOnlyMemory<byte> Chunk(int index)
    {
        var chunk = Manifest[index];
        return Data.AsMemory((int)chunk.Offset, chunk.Length);
    }
}

internal static class Ids
{
    public static FileId File(int seed) => new(Hash256.Compute(BitConverter.GetBytes(seed)));

    public static DeviceId Device(int seed) => new(Hash256.Compute(BitConverter.GetBytes(-seed - 1)));
}
