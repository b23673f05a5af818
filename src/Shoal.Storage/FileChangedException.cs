namespace Shoal.Storage;

/// <summary>A shared file no longer has the size or write time it was indexed with, so its manifest is stale.</summary>
public sealed class FileChangedException : IOException
{
    public FileChangedException(string filePath, string message)
        : base(message)
    {
        FilePath = filePath;
    }

    public string FilePath { get; }
}
