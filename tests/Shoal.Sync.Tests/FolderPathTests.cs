using System.Text;
using static Shoal.Sync.Tests.Records;

namespace Shoal.Sync.Tests;

public class FolderPathTests
{
    private static readonly string Root = Path.Combine(Path.GetTempPath(), "shoal-folder");

    public static TheoryData<string?> Hostile() => new()
    {
        null,
        "",
        ".",
        "..",
        "../x",
        "a/..",
        "a/../b",
        "a/./b",
        "/etc/passwd",
        "/",
        "C:/x",
        "c:",
        "C:\\Windows",
        "a\\b",
        "..\\x",
        "a\0b",
        "a/b\nc",
        "tab\t",
        "NUL",
        "con.txt",
        "docs/COM1",
        "docs/lpt9.log/x",
        "a/",
        "a//b",
        "//a",
        ".shoal-tmp.x",
        "docs/.shoal-tmp.abc.report.txt",
        "file.txt:stream",
        "trailing.",
        "dir /x",
        new string('a', 256),
        string.Join('/', Enumerable.Repeat(new string('a', 99), 50)),
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void HostilePathsAreRejectedWithAOneLineReason(string? path)
    {
        Assert.False(FolderPath.IsValid(path, out var error));
        Assert.False(string.IsNullOrWhiteSpace(error));
        Assert.DoesNotContain('\n', error);
        Assert.DoesNotContain('\0', error);
        Assert.True(error.Length < 300, error);
    }

    [Theory]
    [MemberData(nameof(Hostile))]
    public void HostilePathsNeverBecomeFullPaths(string? path)
    {
        Assert.ThrowsAny<ArgumentException>(() => FolderPath.ToFullPath(Root, path!));
    }

    public static TheoryData<string> Valid() => new()
    {
        "a",
        "a/b/c.txt",
        ".hidden/x",
        "..a/b",
        "what?.txt",
        "name with spaces/and more.txt",
        "日本/語.txt",
        "emoji 😀.png",
        "C",
        "CONSOLE.txt",
        "x.shoal-tmp.y",
        new string('a', 255),
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void OrdinaryPathsAreValid(string path)
    {
        Assert.True(FolderPath.IsValid(path, out var error), error);
        Assert.Equal("", error);
    }

    [Fact]
    public void UnpairedSurrogatesAreRejected()
    {
        // Not theory data: xunit would replace a lone surrogate while serializing the case.
        foreach (var path in new[] { "bad\uD800surrogate", "bad/\uDC00", "\uDE00\uD83D", "end\uD83D" })
        {
            Assert.False(FolderPath.IsValid(path, out var error));
            Assert.Contains("Unicode", error);
        }

        Assert.True(FolderPath.IsValid("ok \uD83D\uDE00", out _));
    }

    [Theory]
    [InlineData("docs/con.txt", "con.txt")]
    [InlineData("a/b/.shoal-tmp.x/c", ".shoal-tmp.x")]
    [InlineData("a/trailing./c", "trailing.")]
    [InlineData("a/../b", "..")]
    [InlineData("a/x:y", "x:y")]
    public void TheErrorNamesTheOffendingComponent(string path, string component)
    {
        Assert.False(FolderPath.IsValid(path, out var error));
        Assert.Contains($"'{component}'", error);
    }

    [Fact]
    public void TheLengthLimitCountsUtf8Bytes()
    {
        // 15 components of 255 bytes, one of 254, one of 1, and 16 separators: 4096 bytes.
        var longest = string.Join('/', [.. Enumerable.Repeat(new string('a', 255), 15), new string('a', 254), "b"]);
        Assert.Equal(FolderPath.MaxBytes, Encoding.UTF8.GetByteCount(longest));
        Assert.True(FolderPath.IsValid(longest, out _));
        Assert.False(FolderPath.IsValid(longest + "c", out var error));
        Assert.Contains("4097 bytes", error);

        var wide = string.Join('/', Enumerable.Repeat(new string('é', 100), 25));
        Assert.True(wide.Length < FolderPath.MaxBytes);
        Assert.False(FolderPath.IsValid(wide, out _));
    }

    [Fact]
    public void AFiveThousandBytePathIsRejected()
    {
        var path = string.Join('/', Enumerable.Repeat(new string('x', 99), 50));
        Assert.Equal(4999, Encoding.UTF8.GetByteCount(path));
        Assert.False(FolderPath.IsValid(path + "y", out var error));
        Assert.Contains("5000 bytes", error);
    }

    [Fact]
    public void FullPathsMapBothWays()
    {
        var full = FolderPath.ToFullPath(Root, "docs/sub/report.txt");
        Assert.Equal(Path.Combine(Root, "docs", "sub", "report.txt"), full);
        Assert.Equal("docs/sub/report.txt", FolderPath.FromFullPath(Root, full));
        Assert.Equal("docs/sub/report.txt", FolderPath.FromFullPath(Root + Path.DirectorySeparatorChar, full));
        Assert.Equal(full, FolderPath.ToFullPath(Root + Path.DirectorySeparatorChar, "docs/sub/report.txt"));
    }

    [Fact]
    public void FromFullPathRejectsWhatIsNotStrictlyInsideTheRoot()
    {
        Assert.Null(FolderPath.FromFullPath(Root, Root));
        Assert.Null(FolderPath.FromFullPath(Root, Root + Path.DirectorySeparatorChar));
        Assert.Null(FolderPath.FromFullPath(Root, Root + "2" + Path.DirectorySeparatorChar + "x"));
        Assert.Null(FolderPath.FromFullPath(Root, Path.GetTempPath()));
        Assert.Null(FolderPath.FromFullPath(Root, Path.Combine(Root, "..", "elsewhere", "x")));
        Assert.Equal("b", FolderPath.FromFullPath(Root, Path.Combine(Root, "a", "..", "b")));
    }

    [Fact]
    public void FromFullPathRejectsNamesThatAreNotValidFolderPaths()
    {
        Assert.Null(FolderPath.FromFullPath(Root, Path.Combine(Root, "docs", ".shoal-tmp.abc.x")));
        Assert.Null(FolderPath.FromFullPath(Root, Path.Combine(Root, "con.txt")));
        if (!OperatingSystem.IsWindows()) Assert.Null(FolderPath.FromFullPath(Root, Path.Combine(Root, "back\\slash")));
    }

    [Fact]
    public void ToFullPathNamesTheProblem()
    {
        var thrown = Assert.Throws<ArgumentException>(() => FolderPath.ToFullPath(Root, "a/../../etc"));
        Assert.Contains("'..'", thrown.Message);
        Assert.Equal("path", thrown.ParamName);
    }

    [Theory]
    [InlineData("a/b/c", "a/b", "c")]
    [InlineData("a/b", "a", "b")]
    [InlineData("a", "", "a")]
    public void ParentAndFileNameSplitAtTheLastSlash(string path, string parent, string name)
    {
        Assert.Equal(parent, FolderPath.Parent(path));
        Assert.Equal(name, FolderPath.FileName(path));
    }

    [Fact]
    public void TempNamesAreRecognisedByPrefixOnly()
    {
        Assert.True(FolderPath.IsTempName(".shoal-tmp.abc.txt"));
        Assert.True(FolderPath.IsTempName(FolderPath.TempPrefix));
        Assert.False(FolderPath.IsTempName("x.shoal-tmp.abc"));
        Assert.False(FolderPath.IsTempName(".SHOAL-TMP.abc"));
        Assert.False(FolderPath.IsTempName(".shoal-tmp"));
    }

    [Fact]
    public void TheTempFileSitsNextToItsTargetAndNamesTheContent()
    {
        var content = Content(7);
        Assert.Equal($"docs/sub/.shoal-tmp.{content.ShortForm}.report.txt", FolderPath.TempNameFor("docs/sub/report.txt", content));
        Assert.Equal($".shoal-tmp.{content.ShortForm}.a", FolderPath.TempNameFor("a", content));
        Assert.NotEqual(FolderPath.TempNameFor("a", content), FolderPath.TempNameFor("a", Content(8)));
    }

    [Fact]
    public void ATempFileIsNeverAValidFolderPathAndIsAlwaysIgnored()
    {
        var temp = FolderPath.TempNameFor("docs/report.txt", Content(1));
        Assert.False(FolderPath.IsValid(temp, out _));
        Assert.True(FolderPath.IsTempName(FolderPath.FileName(temp)));
        Assert.True(IgnoreRules.Empty.IsIgnored(temp, isDirectory: false));
        Assert.Null(FolderPath.FromFullPath(Root, Path.Combine(Root, "docs", FolderPath.FileName(temp))));
    }

    [Theory]
    [InlineData('a')]
    [InlineData('é')]
    [InlineData('日')]
    public void ALongTargetNameIsCutToFitWithoutSplittingACharacter(char filler)
    {
        var name = new string(filler, 255 / Encoding.UTF8.GetByteCount([filler]));
        Assert.True(FolderPath.IsValid("dir/" + name, out _));
        var temp = FolderPath.FileName(FolderPath.TempNameFor("dir/" + name, Content(2)));
        Assert.True(Encoding.UTF8.GetByteCount(temp) <= 255);
        Assert.True(Encoding.UTF8.GetByteCount(temp) > 250);
        Assert.DoesNotContain('\uFFFD', Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(temp)));
        Assert.StartsWith(FolderPath.TempPrefix + Content(2).ShortForm + "." + filler, temp);
    }

    [Fact]
    public void ACutTempNameDoesNotEndInADotOrSpace()
    {
        var name = new string('a', 231) + ". b";
        var temp = FolderPath.TempNameFor(name, Content(3));
        Assert.EndsWith("a", temp);
        Assert.True(Encoding.UTF8.GetByteCount(temp) <= 255);
    }

    [Fact]
    public void TempNameForRefusesAnInvalidTarget()
    {
        Assert.Throws<ArgumentException>(() => FolderPath.TempNameFor("../x", Content(1)));
    }

    [Fact]
    public void TheTempFullPathIsInTheTargetsDirectory()
    {
        var content = Content(4);
        Assert.Equal(
            Path.Combine(Root, "docs", FolderPath.TempPrefix + content.ShortForm + ".report.txt"),
            FolderPath.ToTempFullPath(Root, "docs/report.txt", content));
        Assert.Equal(
            Path.Combine(Root, FolderPath.TempPrefix + content.ShortForm + ".a"),
            FolderPath.ToTempFullPath(Root, "a", content));
    }
}
