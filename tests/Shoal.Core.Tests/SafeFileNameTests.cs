using System.Text;
using Shoal.Core;

namespace Shoal.Core.Tests;

public class SafeFileNameTests
{
    public static TheoryData<string?> Unsafe() => new()
    {
        null,
        "",
        ".",
        "..",
        "a/b",
        "/etc/passwd",
        "../secret",
        "..\\x",
        "dir\\file.txt",
        "C:evil",
        "C:\\Windows\\win.ini",
        "file.txt:stream",
        "CON",
        "con",
        "nul.txt",
        "Aux.tar.gz",
        "COM1",
        "lpt9.log",
        "PRN ",
        "CON .txt",
        "a\0b",
        "line\nbreak",
        "tab\there",
        "bell\u0007",
        "del\u007f",
        "c1\u0085control",
        "trailing.",
        "trailing ",
        "dots...",
        new string('a', 256),
        string.Concat(Enumerable.Repeat("é", 128)),
        string.Concat(Enumerable.Repeat("日", 86)),
    };

    [Theory]
    [MemberData(nameof(Unsafe))]
    public void UnsafeNamesAreRejectedWithAReason(string? name)
    {
        Assert.False(SafeFileName.IsValid(name, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    public static TheoryData<string> Safe() => new()
    {
        "report.pdf",
        "a",
        ".hidden",
        "..double-dot-prefix",
        "a..b",
        "name with spaces.txt",
        " leading space",
        "résumé.docx",
        "日本語のファイル.txt",
        "emoji 😀.png",
        "CONSOLE.txt",
        "con_notes.txt",
        "COM10",
        "what? really & truly.txt",
        new string('a', 255),
        string.Concat(Enumerable.Repeat("日", 85)),
    };

    [Theory]
    [MemberData(nameof(Safe))]
    public void OrdinaryNamesAreAccepted(string name)
    {
        Assert.True(SafeFileName.IsValid(name, out var error), error);
        Assert.Equal(name, SafeFileName.Sanitize(name, "fallback"));
    }

    [Theory]
    [MemberData(nameof(Unsafe))]
    public void SanitizingAnUnsafeNameGivesASafeOne(string? name)
    {
        var sanitized = SafeFileName.Sanitize(name, "fallback");

        Assert.True(SafeFileName.IsValid(sanitized, out var error), $"'{sanitized}': {error}");
    }

    [Theory]
    [InlineData("a/b", "a_b")]
    [InlineData("/etc/passwd", "_etc_passwd")]
    [InlineData("C:evil", "C_evil")]
    [InlineData("line\nbreak", "line_break")]
    [InlineData("trailing. ", "trailing")]
    [InlineData("CON", "_CON")]
    [InlineData("..", "fallback")]
    [InlineData("", "fallback")]
    [InlineData(" . ", "fallback")]
    public void SanitizingKeepsWhatItCan(string name, string expected) =>
        Assert.Equal(expected, SafeFileName.Sanitize(name, "fallback"));

    [Fact]
    public void SanitizedLongNamesFitTheByteLimit()
    {
        foreach (var unit in new[] { "a", "é", "日", "😀" })
        {
            var sanitized = SafeFileName.Sanitize(string.Concat(Enumerable.Repeat(unit, 300)) + ".txt", "fallback");

            Assert.True(SafeFileName.IsValid(sanitized, out var error), error);
            Assert.StartsWith(unit + unit, sanitized);
        }
    }

    [Fact]
    public void SanitizeNeverReturnsAnInvalidName()
    {
        // Characters that each trip a different rule, so random mixes reach the corner cases.
        string[] pieces = ["a", "é", "😀", "日", ".", " ", "/", "\\", ":", "\0", "\n", "\u007f", "CON", "nul", "com1", "..", "\ud800", "\udc00"];
        var random = new Random(1);
        for (var i = 0; i < 20_000; i++)
        {
            var name = new StringBuilder();
            var count = random.Next(0, i % 100 == 0 ? 400 : 8);
            for (var j = 0; j < count; j++) name.Append(pieces[random.Next(pieces.Length)]);

            var sanitized = SafeFileName.Sanitize(name.ToString(), "fallback");

            Assert.True(SafeFileName.IsValid(sanitized, out var error), $"'{name}' became '{sanitized}': {error}");
        }
    }
}
