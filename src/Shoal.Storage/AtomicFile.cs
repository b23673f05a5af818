using System.Text;

namespace Shoal.Storage;

/// <summary>Replaces small files (config, identity) so that after a crash there is either the old file or the new one.</summary>
public static class AtomicFile
{
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public const UnixFileMode OwnerOnlyDirectory = OwnerOnly | UnixFileMode.UserExecute;

    /// <summary>A directory only its owner can enter: homes hold keys and secrets.</summary>
    public static void CreatePrivateDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, OwnerOnlyDirectory);
        }
    }

    public static void WriteAllText(string path, string contents, UnixFileMode? unixCreateMode = null)
    {
        ArgumentNullException.ThrowIfNull(contents);
        WriteAllBytes(path, Encoding.UTF8.GetBytes(contents), unixCreateMode);
    }

    /// <param name="unixCreateMode">
    /// Permissions the file has from the moment it exists (e.g. owner-only for keys); ignored on Windows.
    /// </param>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes, UnixFileMode? unixCreateMode = null)
    {
        var fullPath = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(fullPath)!;
        var tempPath = Path.Combine(directory, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (unixCreateMode is { } mode && !OperatingSystem.IsWindows()) options.UnixCreateMode = mode;

        try
        {
            using (var stream = new FileStream(tempPath, options))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }

            File.Move(tempPath, fullPath, overwrite: true);
        }
        catch
        {
            File.Delete(tempPath);
            throw;
        }

        DurableFileSystem.FlushDirectory(directory);
    }
}
