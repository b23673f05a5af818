using Shoal.Core;

namespace Shoal.Core.Tests;

public class ShoalLinkTests
{
    private static readonly FileId Id = new(TestData.Hash(1));

    [Fact]
    public void ALinkWithoutANameIsTheSchemeAndTheId()
    {
        var link = new ShoalLink(Id, null);

        Assert.Equal("shoal:" + Id, link.ToString());
        Assert.Equal(link, ShoalLink.Parse(link.ToString()));
        Assert.Equal(link, ShoalLink.Parse("shoal:" + Id + "?"));
        Assert.Equal(link, ShoalLink.Parse("shoal:" + Id + "?name="));
    }

    [Theory]
    [InlineData("report.pdf")]
    [InlineData("my holiday photos.zip")]
    [InlineData("what? really & truly.txt")]
    [InlineData("a=b&name=c.txt")]
    [InlineData("100% + 50%.txt")]
    [InlineData("résumé – 日本語 😀.txt")]
    [InlineData("#hash;semi/slash")]
    public void NamesRoundTripThroughPercentEncoding(string name)
    {
        var text = new ShoalLink(Id, name).ToString();

        var query = text[(text.IndexOf('?') + 1)..];
        Assert.StartsWith("name=", query);
        Assert.DoesNotContain(' ', query);
        Assert.DoesNotContain('?', query);
        Assert.DoesNotContain('&', query);
        Assert.Equal(1, query.Count(c => c == '='));
        Assert.All(query, c => Assert.True(char.IsAscii(c)));
        Assert.Equal(new ShoalLink(Id, name), ShoalLink.Parse(text));
    }

    [Fact]
    public void ParsingIsLenientAboutCaseWhitespaceAndOtherParameters()
    {
        var expected = new ShoalLink(Id, "a b.txt");

        Assert.Equal(expected, ShoalLink.Parse($"  SHOAL:{Id.ToString().ToUpperInvariant()}?name=a%20b.txt  "));
        Assert.Equal(expected, ShoalLink.Parse($"shoal:{Id}?size=12&name=a+b.txt&x"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("shoal:")]
    [InlineData("shoal:?name=x")]
    [InlineData("shoal:abc")]
    [InlineData("http://example.com/file")]
    [InlineData("magnet:?xt=urn:btih:abc")]
    [InlineData("not a link at all")]
    public void GarbageIsRejectedWithAReason(string? text)
    {
        Assert.False(ShoalLink.TryParse(text, out _, out var error));
        Assert.False(string.IsNullOrWhiteSpace(error));
        Assert.Throws<FormatException>(() => ShoalLink.Parse(text!));
    }

    [Fact]
    public void AnIdOfTheWrongLengthOrAlphabetIsRejected()
    {
        var id = Id.ToString();
        foreach (var bad in new[] { id[..^1], id + "a", id[..^1] + "!", "shoal" + id })
        {
            Assert.False(ShoalLink.TryParse("shoal:" + bad, out _, out var error), bad);
            Assert.Contains("file id", error);
        }
    }
}
