using System.Text.RegularExpressions;
using Shoal.Core;

namespace Shoal.Core.Tests;

public class DeviceIdTests
{
    private static DeviceId Sample(int seed) => DeviceId.FromCertificate(TestData.Random(300, seed));

    [Fact]
    public void TextIsEightDashedGroupsOfSeven()
    {
        for (var seed = 0; seed < 20; seed++)
        {
            Assert.Matches(new Regex("^([A-Z2-7]{7}-){7}[A-Z2-7]{7}$"), Sample(seed).ToString());
        }
    }

    [Fact]
    public void ParseRoundTrips()
    {
        for (var seed = 0; seed < 20; seed++)
        {
            var id = Sample(seed);
            Assert.Equal(id, DeviceId.Parse(id.ToString()));
            Assert.Equal(id, DeviceId.Parse(id.ToString().ToLowerInvariant()));
            Assert.Equal(id, DeviceId.Parse($"  {id.ToString().Replace('-', ' ')} "));
        }
    }

    [Fact]
    public void TheFormWithoutCheckCharactersIsAccepted()
    {
        var id = Sample(1);
        var compact = id.ToString().Replace("-", "");
        var withoutChecks = string.Concat(compact.Chunk(14).Select(group => new string(group[..13])));

        Assert.Equal(52, withoutChecks.Length);
        Assert.True(DeviceId.TryParse(withoutChecks, out var parsed, out var error), error);
        Assert.Equal(id, parsed);
    }

    [Fact]
    public void EveryMistypedCharacterIsCaught()
    {
        var text = Sample(2).ToString();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '-') continue;
            var typo = Base32.CharOf((Base32.ValueOf(text[i]) + 1 + (i % 30)) % 32);
            var mistyped = text[..i] + typo + text[(i + 1)..];

            Assert.False(DeviceId.TryParse(mistyped, out _, out var error), $"typo at {i}: {mistyped}");
            Assert.Contains("check", error);
        }
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("ABCDEFG")]
    [InlineData("ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEF!")]
    [InlineData("ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-ABCDEFG-A")]
    public void MalformedTextIsRejectedWithAReason(string? text)
    {
        Assert.False(DeviceId.TryParse(text, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
        Assert.Throws<FormatException>(() => DeviceId.Parse(text!));
    }

    [Fact]
    public void ShortFormIsTheFirstGroup()
    {
        var id = Sample(4);
        Assert.Equal(id.ToString()[..7], id.ShortForm);
    }
}
