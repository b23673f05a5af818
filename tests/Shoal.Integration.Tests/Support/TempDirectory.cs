namespace Shoal.Integration.Tests.Support;

public sealed class TempDirectory : IDisposable
{
    /// <param name="parent">Where to make it (default: the temp directory), e.g. on a file system a test mounted.</param>
    public TempDirectory(string prefix = "shoal-it", string? parent = null)
    {
        Path = System.IO.Path.Combine(parent ?? System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A process killed by the test may still be closing files; the OS temp cleaner gets the rest.
        }
    }
}
