using System.Buffers.Binary;
using Shoal.Core;
using Shoal.Core.Folder;
using static Shoal.Sync.Tests.Records;

namespace Shoal.Sync.Tests;

public class VersionVectorTests
{
    [Fact]
    public void EqualHistoriesCompareEqual()
    {
        Assert.Equal(Causality.Equal, VersionVector.Empty.Compare(VersionVector.Empty));
        Assert.Equal(Causality.Equal, Version((1, 2), (5, 1)).Compare(Version((5, 1), (1, 2))));
    }

    [Fact]
    public void AVectorThatHasSeenMoreIsNewer()
    {
        var older = Version((1, 2));
        var newer = Version((1, 3));
        var wider = Version((1, 2), (7, 1));
        Assert.Equal(Causality.Newer, newer.Compare(older));
        Assert.Equal(Causality.Older, older.Compare(newer));
        Assert.Equal(Causality.Newer, wider.Compare(older));
        Assert.Equal(Causality.Older, older.Compare(wider));
        Assert.Equal(Causality.Newer, older.Compare(VersionVector.Empty));
        Assert.Equal(Causality.Older, VersionVector.Empty.Compare(older));
    }

    [Fact]
    public void EditsWithoutKnowledgeOfEachOtherAreConcurrent()
    {
        Assert.Equal(Causality.Concurrent, Version((1, 1)).Compare(Version((2, 1))));
        Assert.Equal(Causality.Concurrent, Version((1, 2), (2, 1)).Compare(Version((1, 1), (2, 2))));
        Assert.Equal(Causality.Concurrent, Version((1, 5)).Compare(Version((1, 4), (9, 1))));
    }

    [Fact]
    public void IncrementAddsADeviceOrBumpsItsCounter()
    {
        var start = Version((1, 4));
        Assert.Equal(Version((1, 4), (2, 1)), start.Increment(2));
        Assert.Equal(Version((1, 5)), start.Increment(1));
        Assert.Equal(Version((1, 4)), start);
    }

    [Fact]
    public void IncrementJumpsToAtLeastButNeverGoesBack()
    {
        var start = Version((1, 4));
        Assert.Equal(Version((1, 1_700_000_000)), start.Increment(1, atLeast: 1_700_000_000));
        Assert.Equal(Version((1, 5)), start.Increment(1, atLeast: 2));
        Assert.Equal(Version((1, 5)), start.Increment(1, atLeast: 5));
        Assert.Equal(Version((1, 4), (3, 9)), start.Increment(3, atLeast: 9));
    }

    [Fact]
    public void MergeTakesTheLargerCounterOfEveryDevice()
    {
        var merged = Version((1, 3), (2, 1)).Merge(Version((2, 4), (3, 2)));
        Assert.Equal(Version((1, 3), (2, 4), (3, 2)), merged);
        Assert.Equal(Version((1, 3)), Version((1, 3)).Merge(VersionVector.Empty));
    }

    [Fact]
    public void FromCountersSortsAndRejectsZeroDuplicateAndTooMany()
    {
        var vector = VersionVector.FromCounters([new(9, 1), new(2, 5), new(4, 3)]);
        Assert.Equal([2UL, 4UL, 9UL], vector.Counters.Select(c => c.Device));
        Assert.Same(VersionVector.Empty, VersionVector.FromCounters([]));
        Assert.Throws<ArgumentException>(() => VersionVector.FromCounters([new(1, 0)]));
        Assert.Throws<ArgumentException>(() => VersionVector.FromCounters([new(1, 1), new(1, 2)]));
        var tooMany = Enumerable.Range(1, VersionVector.MaxCounters + 1).Select(i => new VersionCounter((ulong)i, 1));
        Assert.Throws<ArgumentException>(() => VersionVector.FromCounters(tooMany));
    }

    [Fact]
    public void GetIsZeroForAnUnknownDevice()
    {
        var vector = Version((1, 3), (5, 2));
        Assert.Equal(3UL, vector.Get(1));
        Assert.Equal(2UL, vector.Get(5));
        Assert.Equal(0UL, vector.Get(4));
    }

    [Fact]
    public void EqualVectorsHaveEqualHashes()
    {
        var a = Version((1, 3), (5, 2));
        var b = VersionVector.FromCounters([new(5, 2), new(1, 3)]);
        Assert.True(a.Equals(b));
        Assert.True(a.Equals((object)b));
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.False(a.Equals(Version((1, 3))));
        Assert.False(a.Equals(null));
    }

    [Fact]
    public void KeyOfIsTheFirstEightBytesBigEndian()
    {
        var bytes = Enumerable.Range(1, Hash256.Size).Select(i => (byte)i).ToArray();
        Assert.Equal(0x0102030405060708UL, VersionVector.KeyOf(DeviceId.FromBytes(bytes)));
    }

    [Fact]
    public void EncodingRoundTrips()
    {
        foreach (var vector in new[] { VersionVector.Empty, Version((1, 1)), Version((ulong.MaxValue, ulong.MaxValue), (0, 7), (42, 3)) })
        {
            var bytes = vector.ToBytes();
            Assert.Equal(vector.SerializedSize, bytes.Length);
            Assert.Equal(vector, VersionVector.FromBytes(bytes));
            Assert.Equal(vector.ToString(), VersionVector.FromBytes(bytes).ToString());
        }
    }

    [Fact]
    public void TryReadStopsAtTheEndOfTheVector()
    {
        var vector = Version((3, 4), (8, 1));
        var buffer = new byte[vector.SerializedSize + 5];
        vector.WriteTo(buffer);
        Assert.True(VersionVector.TryRead(buffer, out var read, out var consumed));
        Assert.Equal(vector, read);
        Assert.Equal(vector.SerializedSize, consumed);
        Assert.Throws<FormatException>(() => VersionVector.FromBytes(buffer));
    }

    public static TheoryData<byte[]> Malformed() => new()
    {
        Array.Empty<byte>(),
        new byte[] { 0 },
        Encoded(1, (1, 1))[..^1],
        Encoded(2, (1, 1)),
        Encoded(1, (1, 0)),
        Encoded(2, (5, 1), (3, 1)),
        Encoded(2, (5, 1), (5, 2)),
        Encoded(VersionVector.MaxCounters + 1, Enumerable.Range(1, VersionVector.MaxCounters + 1).Select(i => ((ulong)i, 1UL)).ToArray()),
        Encoded(ushort.MaxValue),
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedEncodingsAreRejectedWithoutThrowing(byte[] bytes)
    {
        Assert.False(VersionVector.TryRead(bytes, out var version, out var consumed));
        Assert.Same(VersionVector.Empty, version);
        Assert.Equal(0, consumed);
        Assert.Throws<FormatException>(() => VersionVector.FromBytes(bytes));
    }

    [Fact]
    public void RandomBytesNeverMakeTryReadThrow()
    {
        var random = new Random(7);
        for (var i = 0; i < 2_000; i++)
        {
            var bytes = new byte[random.Next(0, 60)];
            random.NextBytes(bytes);
            if (bytes.Length >= 2 && random.Next(2) == 0) BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)random.Next(4));
            if (VersionVector.TryRead(bytes, out var version, out var consumed))
            {
                Assert.Equal(version.SerializedSize, consumed);
                Assert.Equal(bytes[..consumed], version.ToBytes());
            }
        }
    }

    [Fact]
    public void CompareIsAntisymmetricAndMatchesEquality()
    {
        var random = new Random(1);
        for (var i = 0; i < 2_000; i++)
        {
            var a = RandomVersion(random);
            var b = RandomVersion(random);
            var expected = a.Compare(b) switch
            {
                Causality.Newer => Causality.Older,
                Causality.Older => Causality.Newer,
                var same => same,
            };
            Assert.Equal(expected, b.Compare(a));
            Assert.Equal(a.Equals(b), a.Compare(b) == Causality.Equal);
        }
    }

    [Fact]
    public void MergeDominatesBothAndIsTheSameEitherWay()
    {
        var random = new Random(2);
        for (var i = 0; i < 2_000; i++)
        {
            var a = RandomVersion(random);
            var b = RandomVersion(random);
            var merged = a.Merge(b);
            Assert.Contains(merged.Compare(a), new[] { Causality.Newer, Causality.Equal });
            Assert.Contains(merged.Compare(b), new[] { Causality.Newer, Causality.Equal });
            Assert.Equal(merged, b.Merge(a));
            Assert.Equal(merged, merged.Merge(a));
            if (a.Compare(b) == Causality.Concurrent)
            {
                Assert.Equal(Causality.Newer, merged.Compare(a));
                Assert.Equal(Causality.Newer, merged.Compare(b));
            }
        }
    }

    [Fact]
    public void IncrementIsAlwaysNewer()
    {
        var random = new Random(3);
        for (var i = 0; i < 1_000; i++)
        {
            var a = RandomVersion(random);
            var incremented = a.Increment((ulong)random.Next(1, 6), (ulong)random.Next(5));
            Assert.Equal(Causality.Newer, incremented.Compare(a));
        }
    }

    private static byte[] Encoded(int count, params (ulong Device, ulong Value)[] counters)
    {
        var bytes = new byte[2 + (counters.Length * 16)];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)count);
        for (var i = 0; i < counters.Length; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(2 + (i * 16)), counters[i].Device);
            BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(10 + (i * 16)), counters[i].Value);
        }

        return bytes;
    }
}
