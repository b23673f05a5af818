using System.Buffers.Binary;
using System.Security.Cryptography;
using Shoal.Core;

namespace Shoal.Core.Tests;

public class GearChunkerTests
{
    private const int Min = ChunkingParameters.MinSize;
    private const int Average = ChunkingParameters.AverageSize;
    private const int Max = ChunkingParameters.MaxSize;

    [Fact]
    public void EmptyDataHasNoChunk()
    {
        Assert.Equal(0, GearChunker.FindBoundary([], isFinal: false));
        Assert.Equal(0, GearChunker.FindBoundary([], isFinal: true));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(Min - 1)]
    [InlineData(Min)]
    public void DataUpToTheMinimumNeedsMoreUnlessItIsTheEnd(int length)
    {
        var data = TestData.Random(length, seed: length);
        Assert.Equal(0, GearChunker.FindBoundary(data, isFinal: false));
        Assert.Equal(length, GearChunker.FindBoundary(data, isFinal: true));
    }

    [Fact]
    public void ReturnsZeroWhenNoCutIsFoundAndMoreDataFollows()
    {
        var data = TestData.Random(Max, seed: 1);
        var first = GearChunker.FindBoundary(data, isFinal: false);
        Assert.InRange(first, Min + 1, Max - 1);

        var beforeCut = data.AsSpan(0, first - 1);
        Assert.Equal(0, GearChunker.FindBoundary(beforeCut, isFinal: false));
        Assert.Equal(first - 1, GearChunker.FindBoundary(beforeCut, isFinal: true));
        Assert.Equal(first, GearChunker.FindBoundary(data.AsSpan(0, first), isFinal: false));
    }

    [Fact]
    public void DataWithoutCutsIsSplitAtTheMaximum()
    {
        // A constant byte run keeps the gear hash constant, and for this table that value is never a cut.
        var zeros = new byte[(2 * Max) + (2 * 1024 * 1024)];
        Assert.Equal([Max, Max, 2 * 1024 * 1024], TestData.ChunkLengths(zeros));
        Assert.Equal(Max, GearChunker.FindBoundary(zeros.AsSpan(0, Max), isFinal: false));
        Assert.Equal(0, GearChunker.FindBoundary(zeros.AsSpan(0, Max - 1), isFinal: false));
    }

    [Fact]
    public void ChunkingIsDeterministic()
    {
        var data = TestData.Random(24 * 1024 * 1024, seed: 2);
        Assert.Equal(TestData.ChunkLengths(data), TestData.ChunkLengths(data.ToArray()));
    }

    [Theory]
    [InlineData(64 * 1024 + 13)]
    [InlineData(1024 * 1024 + 7)]
    [InlineData(3 * Max)]
    public void StreamingInPiecesGivesTheSameChunksAsOnePiece(int step)
    {
        var data = TestData.Random(24 * 1024 * 1024 + 999, seed: 3);
        var streamed = new List<int>();
        var offset = 0;
        var available = 0;
        while (offset < data.Length)
        {
            var end = Math.Min(offset + available, data.Length);
            var length = GearChunker.FindBoundary(data.AsSpan(offset, end - offset), isFinal: end == data.Length);
            if (length == 0)
            {
                available += step;
                continue;
            }

            streamed.Add(length);
            offset += length;
            available -= length;
        }

        Assert.Equal(TestData.ChunkLengths(data), streamed);
    }

    [Fact]
    public void BytesBeforeTheMinimumDoNotMoveTheCut()
    {
        var data = TestData.Random(Max, seed: 4);
        var first = GearChunker.FindBoundary(data, isFinal: false);
        new Random(5).NextBytes(data.AsSpan(0, Min));
        Assert.Equal(first, GearChunker.FindBoundary(data, isFinal: false));
    }

    [Fact]
    public void ChunksStayWithinTheSizeLimitsAndAverageAboutOneMebibyte()
    {
        var data = TestData.Random(64 * 1024 * 1024, seed: 6);
        var lengths = TestData.ChunkLengths(data);

        Assert.Equal(data.Length, lengths.Sum(l => (long)l));
        foreach (var length in lengths.SkipLast(1))
        {
            Assert.InRange(length, Min, Max);
        }

        Assert.InRange(lengths[^1], 1, Max);
        var average = data.Length / (double)lengths.Count;
        Assert.InRange(average, 0.8 * Average, 1.4 * Average);
    }

    [Fact]
    public void AnInsertionNearTheStartOnlyChangesTheFirstChunks()
    {
        var original = TestData.Random(32 * 1024 * 1024, seed: 7);
        var inserted = new byte[100];
        new Random(8).NextBytes(inserted);
        byte[] edited = [.. original.AsSpan(0, 1000), .. inserted, .. original.AsSpan(1000)];

        var before = TestData.ChunkHashes(original);
        var after = TestData.ChunkHashes(edited);

        var common = CommonSuffix(before, after, 0);
        Assert.InRange(before.Count - common, 1, 2);
        Assert.InRange(after.Count - common, 1, 2);
    }

    [Fact]
    public void ADeletionInTheMiddleOnlyChangesTheChunksAroundIt()
    {
        var original = TestData.Random(32 * 1024 * 1024, seed: 9);
        const int At = 16 * 1024 * 1024;
        byte[] edited = [.. original.AsSpan(0, At), .. original.AsSpan(At + 100)];

        var before = TestData.ChunkHashes(original);
        var after = TestData.ChunkHashes(edited);

        var prefix = before.Zip(after).TakeWhile(pair => pair.First == pair.Second).Count();
        var suffix = CommonSuffix(before, after, prefix);
        Assert.InRange(prefix, 10, before.Count);
        Assert.InRange(before.Count - prefix - suffix, 1, 2);
        Assert.InRange(after.Count - prefix - suffix, 1, 2);
    }

    [Fact]
    public void MatchesAPlainImplementationOfTheDocumentedDefinition()
    {
        for (var seed = 10; seed < 14; seed++)
        {
            var data = TestData.Random(16 * 1024 * 1024, seed);
            var offset = 0;
            int expected;
            while ((expected = ReferenceBoundary(data.AsSpan(offset), isFinal: true)) > 0)
            {
                Assert.Equal(expected, GearChunker.FindBoundary(data.AsSpan(offset), isFinal: true));
                offset += expected;
            }
        }
    }

    [Theory]
    [InlineData(Min + 1)]
    [InlineData(Min + 2)]
    [InlineData(Min + 3)]
    [InlineData(Average - 1)]
    [InlineData(Average)]
    [InlineData(Average + 1)]
    [InlineData(Average + 2)]
    [InlineData(Max - 1)]
    [InlineData(Max)]
    [InlineData(Max + 1)]
    public void MatchesThePlainImplementationAtEveryLengthEdge(int length)
    {
        for (var seed = 20; seed < 28; seed++)
        {
            var data = TestData.Random(length, seed);
            Assert.Equal(ReferenceBoundary(data, isFinal: false), GearChunker.FindBoundary(data, isFinal: false));
            Assert.Equal(ReferenceBoundary(data, isFinal: true), GearChunker.FindBoundary(data, isFinal: true));
        }
    }

    private static int CommonSuffix(List<Hash256> a, List<Hash256> b, int prefix)
    {
        var limit = Math.Min(a.Count, b.Count) - prefix;
        var common = 0;
        while (common < limit && a[a.Count - 1 - common] == b[b.Count - 1 - common])
        {
            common++;
        }

        return common;
    }

    private static readonly ulong[] ReferenceGear = Enumerable.Range(0, 256)
        .Select(b => BinaryPrimitives.ReadUInt64BigEndian(SHA256.HashData([.. "shoal-gear-v1"u8, (byte)b])))
        .ToArray();

    private static int ReferenceBoundary(ReadOnlySpan<byte> data, bool isFinal)
    {
        ulong hash = 0;
        for (var i = Min; i < Math.Min(data.Length, Max); i++)
        {
            hash = (hash << 1) + ReferenceGear[data[i]];
            var mask = i < Average ? ((1UL << 22) - 1) << 41 : ((1UL << 18) - 1) << 45;
            if ((hash & mask) == 0) return i + 1;
        }

        if (data.Length >= Max) return Max;
        return isFinal ? data.Length : 0;
    }
}
