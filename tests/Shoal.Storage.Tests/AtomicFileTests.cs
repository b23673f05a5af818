namespace Shoal.Storage.Tests;

public sealed class AtomicFileTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void WriteAllText_CreatesTheFileAndLeavesNoTemporaryFile()
    {
        var path = _dir.Combine("config.json");

        AtomicFile.WriteAllText(path, "{ \"name\": \"héllo\" }\n");

        Assert.Equal("{ \"name\": \"héllo\" }\n", File.ReadAllText(path));
        Assert.Equal(0x7B, File.ReadAllBytes(path)[0]);
        Assert.Equal(["config.json"], _dir.Entries());
    }

    [Fact]
    public void WriteAllBytes_ReplacesAnExistingFile()
    {
        var path = _dir.Combine("identity.key");
        File.WriteAllText(path, "a much longer old content");

        AtomicFile.WriteAllBytes(path, [1, 2, 3]);

        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
        Assert.Equal(["identity.key"], _dir.Entries());
    }

    [Fact]
    public void WriteAllBytes_WithAUnixMode_CreatesTheFileWithIt()
    {
        if (OperatingSystem.IsWindows()) return;
        var path = _dir.Combine("identity.key");
        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

        AtomicFile.WriteAllBytes(path, [4, 5], ownerOnly);

        Assert.Equal(ownerOnly, File.GetUnixFileMode(path));
        Assert.Equal([4, 5], File.ReadAllBytes(path));
    }

    [Fact]
    public void WriteAllText_IntoAMissingDirectory_ThrowsAndCreatesNothing()
    {
        Assert.Throws<DirectoryNotFoundException>(() => AtomicFile.WriteAllText(_dir.Combine("missing", "config.json"), "x"));
        Assert.Empty(_dir.Entries());
    }
}
