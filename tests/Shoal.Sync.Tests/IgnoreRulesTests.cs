using System.Diagnostics;

namespace Shoal.Sync.Tests;

public class IgnoreRulesTests
{
    public static TheoryData<string, string, bool, bool> Cases() => new()
    {
        // Pattern (lines separated by '|'), path, is it a directory, is it ignored.
        { "*.log", "debug.log", false, true },
        { "*.log", "deep/down/debug.log", false, true },
        { "*.log", "debug.log.txt", false, false },
        { "*.log", "logs", true, false },
        { "*.log", "old.log/inside.txt", false, true },
        { "node_modules", "node_modules", true, true },
        { "node_modules", "a/b/node_modules/x/y.js", false, true },
        { "node_modules", "my_node_modules", true, false },
        { "build/", "build", true, true },
        { "build/", "build", false, false },
        { "build/", "src/build", true, true },
        { "build/", "src/build/out.o", false, true },
        { "/build", "build", false, true },
        { "/build", "src/build", true, false },
        { "/build/", "build/x", false, true },
        { "doc/frotz", "doc/frotz", false, true },
        { "doc/frotz", "a/doc/frotz", false, false },
        { "doc/*.txt", "doc/notes.txt", false, true },
        { "doc/*.txt", "doc/sub/notes.txt", false, false },
        { "?.txt", "a.txt", false, true },
        { "?.txt", "ab.txt", false, false },
        { "a?b", "a/b", false, false },
        { "a*b", "a/b", false, false },
        { "[abc].txt", "b.txt", false, true },
        { "[abc].txt", "d.txt", false, false },
        { "[a-c]x", "cx", false, true },
        { "[a-c]x", "dx", false, false },
        { "[!a]x", "bx", false, true },
        { "[!a]x", "ax", false, false },
        { "[^a]x", "bx", false, true },
        { "[]]x", "]x", false, true },
        { "[a-]x", "-x", false, true },
        { "[\\]]x", "]x", false, true },
        { "[.]x", ".x", false, true },
        { "[.]x", "ax", false, false },
        { "**/foo", "foo", false, true },
        { "**/foo", "a/b/foo", false, true },
        { "**/foo/bar", "x/foo/bar", false, true },
        { "**/foo/bar", "foo/bar", false, true },
        { "foo/**", "foo/a", false, true },
        { "foo/**", "foo/a/b", false, true },
        { "foo/**", "foo", true, false },
        { "foo/**", "x/foo/a", false, false },
        { "a/**/b", "a/b", false, true },
        { "a/**/b", "a/x/b", false, true },
        { "a/**/b", "a/x/y/b", false, true },
        { "a/**/b", "a/xb", false, false },
        { "a**b", "axxb", false, true },
        { "a**b", "a/b", false, false },
        { "**", "anything/at/all", false, true },
        { "*", "x", false, true },
        { "*.LOG", "debug.log", false, false },
        { "*.log|!important.log", "important.log", false, false },
        { "*.log|!important.log", "other.log", false, true },
        { "!important.log|*.log", "important.log", false, true },
        { "logs/|!logs/keep.txt", "logs/keep.txt", false, true },
        { "logs/*|!logs/keep.txt", "logs/keep.txt", false, false },
        { "logs/*|!logs/keep.txt", "logs/other.txt", false, true },
        { "# comment", "# comment", false, false },
        { "\\#hash", "#hash", false, true },
        { "\\!bang", "!bang", false, true },
        { "!bang", "bang", false, false },
        { "trailing   ", "trailing", false, true },
        { "trailing\\ ", "trailing ", false, true },
        { "trailing\\ ", "trailing", false, false },
        { "literal\\*", "literal*", false, true },
        { "literal\\*", "literalx", false, false },
        { "a.b", "axb", false, false },
        { "(x)+", "(x)+", false, true },
        { "(x)+", "xx", false, false },
        { "[unterminated", "[unterminated", false, true },
        { "[unterminated", "u", false, false },
        { "[z-a]", "[z-a]", false, true },
        { "[z-a]", "m", false, false },
        { "dangling\\", "dangling\\", false, true },
        { "  leading", "  leading", false, true },
        { "  leading", "leading", false, false },
        { "/", "anything", false, false },
        { "!", "anything", false, false },
        { "", ".shoal-tmp.abc.x", false, true },
        { "", "docs/.shoal-tmp.abc.x", false, true },
        { "", ".shoal-tmp.dir/inside", false, true },
        { "!.shoal-tmp.*", ".shoal-tmp.abc.x", false, true },
        { "", "ordinary/file.txt", false, false },
        { "日本/*.txt", "日本/語.txt", false, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void GitignoreSemantics(string lines, string path, bool isDirectory, bool ignored)
    {
        var rules = IgnoreRules.Parse(lines.Replace('|', '\n'));
        Assert.Equal(ignored, rules.IsIgnored(path, isDirectory));
    }

    [Fact]
    public void ANegationCannotReachIntoAnIgnoredDirectory()
    {
        var rules = IgnoreRules.Parse("cache/\n!cache/keep\n!keep");
        Assert.True(rules.IsIgnored("cache", isDirectory: true));
        Assert.True(rules.IsIgnored("cache/keep", isDirectory: false));
        Assert.True(rules.IsIgnored("a/cache/keep", isDirectory: false));
    }

    [Fact]
    public void AReIncludedDirectoryKeepsItsContents()
    {
        var rules = IgnoreRules.Parse("*\n!src/\n!*.cs\n*.g.cs");
        Assert.False(rules.IsIgnored("src", isDirectory: true));
        Assert.False(rules.IsIgnored("src/Program.cs", isDirectory: false));
        Assert.True(rules.IsIgnored("src/Program.g.cs", isDirectory: false));
        Assert.True(rules.IsIgnored("src/readme.md", isDirectory: false));
        Assert.True(rules.IsIgnored("other", isDirectory: true));
    }

    [Fact]
    public void PatternsListTheEffectiveLinesAsWritten()
    {
        var rules = IgnoreRules.Parse("# build output\r\n\r\nbin/\r\n!bin/keep   \r\n   \r\n\\#literal\n/\n");
        Assert.Equal(["bin/", "!bin/keep", "\\#literal"], rules.Patterns);
        Assert.Empty(IgnoreRules.Empty.Patterns);
    }

    [Fact]
    public void CrLfLineEndingsWork()
    {
        var rules = IgnoreRules.Parse("*.tmp\r\n*.bak\r\n");
        Assert.True(rules.IsIgnored("x.tmp", isDirectory: false));
        Assert.True(rules.IsIgnored("x.bak", isDirectory: false));
    }

    [Fact]
    public void NoPatternEverMakesParseThrow()
    {
        var random = new Random(5);
        const string Alphabet = "ab*?[]!^-\\/#. {}()+|$";
        for (var i = 0; i < 500; i++)
        {
            var line = new string(Enumerable.Range(0, random.Next(1, 12)).Select(_ => Alphabet[random.Next(Alphabet.Length)]).ToArray());
            var rules = IgnoreRules.Parse(line);
            rules.IsIgnored("ab/a.b", isDirectory: false);
            rules.IsIgnored("ab", isDirectory: true);
        }
    }

    [Fact]
    public void VeryDeepPathsAreMatched()
    {
        var deep = string.Join('/', Enumerable.Repeat("d", 500)) + "/x.log";
        Assert.True(IgnoreRules.Parse("*.log").IsIgnored(deep, isDirectory: false));
        Assert.True(IgnoreRules.Parse("d/**/d/x.log").IsIgnored(deep, isDirectory: false));
        Assert.False(IgnoreRules.Parse("d/**/e/x.log").IsIgnored(deep, isDirectory: false));
    }

    [Fact]
    public void QuestionMarksAndClassesMatchWholeCharacters()
    {
        Assert.True(IgnoreRules.Parse("?.png").IsIgnored("\uD83D\uDE00.png", isDirectory: false));
        Assert.True(IgnoreRules.Parse("[\uD83D\uDE00-\uD83D\uDE4F].png").IsIgnored("\uD83D\uDE03.png", isDirectory: false));
        Assert.False(IgnoreRules.Parse("??.png").IsIgnored("\uD83D\uDE00.png", isDirectory: false));
    }

    [Fact]
    public void MatchingStaysFastWithManyPatternsAndAdversarialPaths()
    {
        // Trailing '*' so no literal suffix rejects the names early: every rule runs its full search.
        var patterns = string.Join('\n', Enumerable.Range(0, 200).Select(i => $"*a*a*a*a*a*a*b{i}*"));
        var rules = IgnoreRules.Parse(patterns + "\n**/x/**/y/**/z");
        var path = string.Join('/', Enumerable.Repeat(new string('a', 200), 19));
        rules.IsIgnored(path, isDirectory: false);

        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < 10; i++) Assert.False(rules.IsIgnored(path, isDirectory: false));
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10), $"took {stopwatch.Elapsed}");
    }

    [Fact]
    public void TypicalRulesMatchQuickly()
    {
        var rules = IgnoreRules.Parse("*.log\n*.tmp\nnode_modules/\n/build/\n.git\n**/cache/**\n!keep.log\n*~\n.DS_Store\nThumbs.db");
        var paths = Enumerable.Range(0, 1000).Select(i => $"src/module{i % 10}/sub/file{i}.cs").ToArray();
        foreach (var path in paths) rules.IsIgnored(path, isDirectory: false);

        var stopwatch = Stopwatch.StartNew();
        for (var round = 0; round < 10; round++)
        {
            foreach (var path in paths) Assert.False(rules.IsIgnored(path, isDirectory: false));
        }

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"took {stopwatch.Elapsed}");
    }
}
