using Shoal.Core;

namespace Shoal.Core.Tests;

public class Base32Tests
{
    [Fact]
    public void EncodingRoundTripsForEveryLength()
    {
        var random = new Random(1);
        for (var length = 0; length <= 40; length++)
        {
            var bytes = new byte[length];
            random.NextBytes(bytes);

            var text = Base32.Encode(bytes);

            Assert.Equal(Base32.EncodedLength(length), text.Length);
            Assert.True(Base32.TryDecode(text, out var decoded));
            Assert.Equal(bytes, decoded);
            Assert.True(Base32.TryDecode(text.ToLowerInvariant(), out var fromLower));
            Assert.Equal(bytes, fromLower);
        }
    }

    [Fact]
    public void MatchesTheRfc4648TestVectors()
    {
        Assert.Equal("MZXW6YTBOI", Base32.Encode("foobar"u8));
        Assert.Equal("my", Base32.Encode("f"u8, lowerCase: true));
    }

    [Fact]
    public void LookalikeDigitsAreReadAsLetters()
    {
        Assert.True(Base32.TryDecode("M0ZXW", out var withZero));
        Assert.True(Base32.TryDecode("MOZXW", out var withO));
        Assert.Equal(withO, withZero);
        Assert.Equal(Base32.ValueOf('I'), Base32.ValueOf('1'));
        Assert.Equal(Base32.ValueOf('B'), Base32.ValueOf('8'));
    }

    [Theory]
    [InlineData("MZXW6YTB!I")]
    [InlineData("MZXW6 YTBOI")]
    [InlineData("MZXW6YTBO9")]
    [InlineData("MZXW6YTBO=")]
    [InlineData("MZ-XW6YTBOI")]
    public void InvalidCharactersAreRejected(string text)
    {
        Assert.False(Base32.TryDecode(text, out var bytes));
        Assert.Empty(bytes);
    }

    [Theory]
    [InlineData("A")]
    [InlineData("MZX")]
    [InlineData("MZXW6Y")]
    public void LengthsNoByteCountEncodesToAreRejected(string text) => Assert.False(Base32.TryDecode(text, out _));

    [Fact]
    public void NonZeroPaddingBitsAreRejected()
    {
        // "MY" is "f"; "MZ" differs only in the two padding bits and would otherwise decode to "f" too.
        Assert.True(Base32.TryDecode("MY", out _));
        Assert.False(Base32.TryDecode("MZ", out _));
    }
}
