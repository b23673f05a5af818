using System.Buffers.Binary;
using Shoal.Core;

namespace Shoal.Core.Tests;

public class ManifestTests
{
    private static Manifest Sample() => Manifest.FromLengthsAndHashes(
    [
        (ChunkingParameters.MaxSize, TestData.Hash(1)),
        (ChunkingParameters.MinSize + 17, TestData.Hash(2)),
        (12345, TestData.Hash(3)),
    ]);

    [Fact]
    public void SerializationRoundTrips()
    {
        var manifest = Sample();

        var bytes = manifest.Serialize();

        Assert.Equal(manifest.SerializedSize, bytes.Length);
        Assert.True(Manifest.TryDeserialize(bytes, out var parsed, out var error), error);
        Assert.Equal(manifest.Id, parsed.Id);
        Assert.Equal(manifest.Size, parsed.Size);
        Assert.Equal(manifest.Chunks, parsed.Chunks);
        Assert.Equal(bytes, parsed.Serialize());
    }

    [Fact]
    public void AnEmptyManifestRoundTrips()
    {
        var empty = Manifest.FromLengthsAndHashes([]);

        var parsed = Manifest.Deserialize(empty.Serialize());

        Assert.Equal(0, parsed.Size);
        Assert.Equal(0, parsed.ChunkCount);
        Assert.Equal(empty.Id, parsed.Id);
    }

    [Fact]
    public void ChunkOffsetsFollowTheLengths()
    {
        var manifest = Sample();

        Assert.Equal([0L, ChunkingParameters.MaxSize, ChunkingParameters.MaxSize + ChunkingParameters.MinSize + 17], manifest.Chunks.Select(c => c.Offset));
        Assert.Equal(manifest.Chunks.Sum(c => (long)c.Length), manifest.Size);
        Assert.Equal(ChunkingParameters.MaxSize, manifest.MaxChunkLength);
    }

    [Fact]
    public void TheIdDependsOnEveryLengthAndHash()
    {
        var id = Sample().Id;

        Assert.Equal(id, Sample().Id);
        Assert.NotEqual(id, Manifest.FromLengthsAndHashes([(ChunkingParameters.MaxSize, TestData.Hash(1)), (ChunkingParameters.MinSize + 17, TestData.Hash(2)), (12345, TestData.Hash(4))]).Id);
        Assert.NotEqual(id, Manifest.FromLengthsAndHashes([(ChunkingParameters.MaxSize, TestData.Hash(1)), (ChunkingParameters.MinSize + 17, TestData.Hash(2)), (12346, TestData.Hash(3))]).Id);
        Assert.NotEqual(id, Manifest.FromLengthsAndHashes([(ChunkingParameters.MinSize + 17, TestData.Hash(2)), (ChunkingParameters.MaxSize, TestData.Hash(1)), (12345, TestData.Hash(3))]).Id);
    }

    public static TheoryData<string, byte[]> Malformed()
    {
        var valid = Sample().Serialize();
        var data = new TheoryData<string, byte[]>
        {
            { "empty", [] },
            { "header only partly there", valid[..(Manifest.HeaderSize - 1)] },
            { "last entry cut short", valid[..^1] },
            { "an extra byte", [.. valid, 0] },
            { "wrong version", With(valid, b => b[0] = Manifest.FormatVersion + 1) },
            { "version zero", With(valid, b => b[0] = 0) },
            { "count one too high", With(valid, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(9), 4)) },
            { "count one too low", With(valid, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(9), 2)) },
            { "negative count", With(valid, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(9), -1)) },
            { "zero-length chunk", With(valid, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(EntryAt(1)), 0)) },
            { "negative chunk length", With(valid, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(EntryAt(1)), int.MinValue)) },
            { "oversized chunk", With(valid, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(EntryAt(0)), ChunkingParameters.MaxSize + 1)) },
            { "size one too large", With(valid, b => BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(1), Sample().Size + 1)) },
            { "size one too small", With(valid, b => BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(1), Sample().Size - 1)) },
            { "negative size", With(valid, b => BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(1), -1)) },
            { "lengths changed but not the size", With(valid, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(EntryAt(2)), 12344)) },
        };

        var tooMany = new byte[Manifest.HeaderSize];
        tooMany[0] = Manifest.FormatVersion;
        BinaryPrimitives.WriteInt32BigEndian(tooMany.AsSpan(9), Manifest.MaxChunkCount + 1);
        data.Add("count above the limit", tooMany);
        return data;
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedManifestsAreRejected(string why, byte[] bytes)
    {
        Assert.False(Manifest.TryDeserialize(bytes, out _, out var error), why);
        Assert.False(string.IsNullOrEmpty(error), why);
        Assert.Throws<FormatException>(() => Manifest.Deserialize(bytes));
    }

    [Fact]
    public void EveryTruncationIsRejected()
    {
        var valid = Sample().Serialize();
        for (var length = 0; length < valid.Length; length++)
        {
            Assert.False(Manifest.TryDeserialize(valid.AsSpan(0, length), out _, out _), $"truncated to {length}");
        }
    }

    [Fact]
    public void TheConstructorRejectsInconsistentChunks()
    {
        var hash = TestData.Hash(1);
        Assert.Throws<ArgumentException>(() => new Manifest(10, [new ChunkInfo(0, 9, hash)]));
        Assert.Throws<ArgumentException>(() => new Manifest(20, [new ChunkInfo(0, 10, hash), new ChunkInfo(11, 10, hash)]));
        Assert.Throws<ArgumentException>(() => new Manifest(0, [new ChunkInfo(0, 0, hash)]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Manifest(-1, []));
    }

    private static int EntryAt(int index) => Manifest.HeaderSize + (index * Manifest.EntrySize);

    private static byte[] With(byte[] bytes, Action<byte[]> change)
    {
        var copy = bytes.ToArray();
        change(copy);
        return copy;
    }
}
