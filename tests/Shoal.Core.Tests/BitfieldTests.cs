using Shoal.Core;

namespace Shoal.Core.Tests;

public class BitfieldTests
{
    [Fact]
    public void SetAndClearKeepTheCount()
    {
        var field = new Bitfield(20);
        Assert.True(field.IsEmpty);

        Assert.True(field.Set(0));
        Assert.True(field.Set(7));
        Assert.True(field.Set(19));
        Assert.False(field.Set(7));
        Assert.Equal(3, field.SetCount);
        Assert.True(field[7]);
        Assert.False(field[8]);
        Assert.Equal([0, 7, 19], field.SetIndices());

        Assert.True(field.Clear(7));
        Assert.False(field.Clear(7));
        Assert.Equal(2, field.SetCount);
        Assert.False(field[7]);
        Assert.False(field.IsComplete);
    }

    [Fact]
    public void BitsAreMostSignificantFirst()
    {
        var field = new Bitfield(10);
        field.Set(0);
        field.Set(9);

        Assert.Equal([0x80, 0x40], field.ToArray());
    }

    [Fact]
    public void FullIsComplete()
    {
        var field = Bitfield.Full(13);

        Assert.True(field.IsComplete);
        Assert.Equal(13, field.SetCount);
        Assert.Equal([0xFF, 0xF8], field.ToArray());
        Assert.True(Bitfield.Full(0).IsComplete);
    }

    [Fact]
    public void IndicesOutsideTheFieldAreRefused()
    {
        var field = new Bitfield(9);
        Assert.Throws<ArgumentOutOfRangeException>(() => field.Set(9));
        Assert.Throws<ArgumentOutOfRangeException>(() => field.Set(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => field.Clear(9));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Bitfield(-1));
    }

    [Fact]
    public void BytesRoundTrip()
    {
        var field = new Bitfield(21);
        foreach (var i in new[] { 1, 2, 3, 10, 20 }) field.Set(i);

        Assert.True(Bitfield.TryFromBytes(21, field.AsSpan(), out var copy));
        Assert.Equal(field.SetIndices(), copy.SetIndices());
        Assert.Equal(5, copy.SetCount);
    }

    [Theory]
    [InlineData(8, 0)]
    [InlineData(8, 2)]
    [InlineData(9, 1)]
    [InlineData(0, 1)]
    [InlineData(-1, 0)]
    public void TheWrongNumberOfBytesIsRejected(int length, int byteCount)
    {
        Assert.False(Bitfield.TryFromBytes(length, new byte[byteCount], out _));
        Assert.Throws<FormatException>(() => Bitfield.FromBytes(length, new byte[byteCount]));
    }

    [Fact]
    public void StrayBitsPastTheEndAreRejected()
    {
        Assert.False(Bitfield.TryFromBytes(9, [0xFF, 0x40], out _));
        Assert.False(Bitfield.TryFromBytes(9, [0x00, 0x01], out _));
        Assert.True(Bitfield.TryFromBytes(9, [0xFF, 0x80], out var field));
        Assert.True(field.IsComplete);
    }

    [Fact]
    public void ACloneIsIndependent()
    {
        var field = new Bitfield(4);
        field.Set(1);

        var clone = field.Clone();
        clone.Set(2);

        Assert.Equal(1, field.SetCount);
        Assert.Equal(2, clone.SetCount);
    }
}
