using Shoal.Core;

namespace Shoal.Core.Tests;

public class FileIdTests
{
    private static readonly FileId Sample = new(TestData.Hash(1));

    [Fact]
    public void TextIsFiftyTwoLowercaseBase32Characters()
    {
        var text = Sample.ToString();

        Assert.Equal(FileId.TextLength, text.Length);
        Assert.Matches("^[a-z2-7]+$", text);
        Assert.Equal(text[..10], Sample.ShortForm);
    }

    [Fact]
    public void ParseRoundTripsAndIgnoresCase()
    {
        Assert.Equal(Sample, FileId.Parse(Sample.ToString()));
        Assert.Equal(Sample, FileId.Parse(Sample.ToString().ToUpperInvariant()));
        Assert.Equal(Sample, FileId.FromBytes(Sample.Value.ToArray()));
    }

    [Fact]
    public void MalformedTextIsRejected()
    {
        var text = Sample.ToString();
        foreach (var bad in new[] { "", text[..^1], text + "a", text[..^1] + "!", text[..^1] + "9" })
        {
            Assert.False(FileId.TryParse(bad, out _), bad);
            Assert.Throws<FormatException>(() => FileId.Parse(bad));
        }
    }

    [Fact]
    public void NonZeroPaddingBitsAreRejected()
    {
        // 52 characters carry 260 bits for 256: the last character's low four bits must be zero,
        // so each id has exactly one spelling.
        var text = Sample.ToString();
        var last = Base32.ValueOf(text[^1]);
        var padded = text[..^1] + char.ToLowerInvariant(Base32.CharOf(last | 1));
        Assert.False(FileId.TryParse(padded, out _));
    }
}
