using System.Text;
using Shoal.Core;
using static Shoal.Sync.Tests.Records;

namespace Shoal.Sync.Tests;

public class ConflictNamesTests
{
    private static readonly DateTimeOffset When = new(2026, 11, 21, 13, 45, 1, TimeSpan.Zero);

    /// <summary>52 characters is the id without check characters; these make the short form read "ABCDEFG".</summary>
    private static readonly DeviceId Abcdefg = DeviceId.Parse("ABCDEFG" + new string('A', 45));

    [Theory]
    [InlineData("docs/report.final.txt", "docs/report.final.conflict-20261121-134501-ABCDEFG.txt")]
    [InlineData("report.txt", "report.conflict-20261121-134501-ABCDEFG.txt")]
    [InlineData("Makefile", "Makefile.conflict-20261121-134501-ABCDEFG")]
    [InlineData("home/.bashrc", "home/.bashrc.conflict-20261121-134501-ABCDEFG")]
    [InlineData(".config.json", ".config.conflict-20261121-134501-ABCDEFG.json")]
    [InlineData("a.b/noext", "a.b/noext.conflict-20261121-134501-ABCDEFG")]
    public void TheMarkerGoesBeforeTheExtension(string path, string expected)
    {
        Assert.Equal("ABCDEFG", Abcdefg.ShortForm);
        Assert.Equal(expected, ConflictNames.For(path, When, Abcdefg));
    }

    [Fact]
    public void TheTimeIsWrittenInUtc()
    {
        var local = new DateTimeOffset(2026, 1, 1, 1, 30, 0, TimeSpan.FromHours(2));
        Assert.Equal("a.conflict-20251231-233000-ABCDEFG.txt", ConflictNames.For("a.txt", local, Abcdefg));
    }

    [Fact]
    public void TheDeviceIsItsShortForm()
    {
        var device = Device(42);
        Assert.EndsWith("-" + device.ShortForm + ".txt", ConflictNames.For("a.txt", When, device));
    }

    [Theory]
    [InlineData('a', ".txt")]
    [InlineData('é', ".txt")]
    [InlineData('日', ".markdown")]
    [InlineData('a', "")]
    public void ALongNameKeepsItsExtensionAndShortensItsStem(char filler, string extension)
    {
        var name = new string(filler, (255 - extension.Length) / Encoding.UTF8.GetByteCount([filler])) + extension;
        var conflict = ConflictNames.For("dir/" + name, When, Abcdefg);
        Assert.True(FolderPath.IsValid(conflict, out var error), error);
        Assert.True(Encoding.UTF8.GetByteCount(FolderPath.FileName(conflict)) > 250);
        Assert.EndsWith(".conflict-20261121-134501-ABCDEFG" + extension, conflict);
        Assert.StartsWith("dir/" + filler, conflict);
        Assert.True(ConflictNames.IsConflictCopy(conflict));
    }

    [Fact]
    public void AnExtensionTooLongToKeepIsShortenedWithTheRest()
    {
        var name = "a." + new string('x', 250);
        var conflict = ConflictNames.For(name, When, Abcdefg);
        Assert.True(FolderPath.IsValid(conflict, out var error), error);
        Assert.StartsWith("a.xxx", conflict);
        Assert.EndsWith(".conflict-20261121-134501-ABCDEFG", conflict);
        Assert.True(ConflictNames.IsConflictCopy(conflict));
    }

    [Fact]
    public void ConflictNamesAreAlwaysValidAndRecognised()
    {
        var random = new Random(11);
        const string Alphabet = "ab.é日 -_😀";
        for (var i = 0; i < 500; i++)
        {
            var runes = Alphabet.EnumerateRunes().ToArray();
            var name = string.Concat(Enumerable.Range(0, random.Next(1, 200)).Select(_ => runes[random.Next(runes.Length)].ToString()));
            if (!FolderPath.IsValid(name, out _)) continue;
            var conflict = ConflictNames.For("d/" + name, When, Device((byte)random.Next(256)));
            Assert.True(FolderPath.IsValid(conflict, out var error), $"{name}: {error}");
            Assert.True(ConflictNames.IsConflictCopy(conflict), conflict);
            Assert.Equal("d", FolderPath.Parent(conflict));
        }
    }

    [Theory]
    [InlineData("report.txt")]
    [InlineData("report.conflict.txt")]
    [InlineData("report.conflict-20261121-134501.txt")]
    [InlineData("report.conflict-20261121-134501-abcdefg.txt")]
    [InlineData("report.conflict-20261121-134501-ABCDEFG.tar.gz")]
    [InlineData("dir.conflict-20261121-134501-ABCDEFG/file.txt")]
    [InlineData("conflict-20261121-134501-ABCDEFG")]
    public void OrdinaryNamesAreNotConflictCopies(string path)
    {
        Assert.False(ConflictNames.IsConflictCopy(path));
    }

    [Fact]
    public void AConflictOfAConflictCopyIsStillRecognised()
    {
        var once = ConflictNames.For("a/b.txt", When, Abcdefg);
        var twice = ConflictNames.For(once, When.AddDays(1), Device(3));
        Assert.True(ConflictNames.IsConflictCopy(twice));
        Assert.StartsWith("a/b.conflict-20261121-134501-ABCDEFG.conflict-20261122-134501-", twice);
    }

    [Fact]
    public void AnInvalidPathIsRefused()
    {
        Assert.Throws<ArgumentException>(() => ConflictNames.For("../x.txt", When, Abcdefg));
        Assert.Throws<ArgumentException>(() => ConflictNames.For("", When, Abcdefg));
    }
}
