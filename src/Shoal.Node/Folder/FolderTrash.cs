using System.Globalization;
using Shoal.Storage;

namespace Shoal.Node.Folder;

/// <summary>
/// Where the folder's deleted and replaced files go instead of nowhere: HOME/trash/&lt;yyyyMMdd-HHmmss&gt;/&lt;path&gt;,
/// kept for the retention period, then removed a whole moment at a time.
/// </summary>
internal sealed class FolderTrash(string directory, TimeSpan retention, TimeProvider time)
{
    private const string StampFormat = "yyyyMMdd-HHmmss";

    public string Directory { get; } = directory;

    /// <summary>Moves a file or an empty directory into the trash.</summary>
    public void Move(string fullPath, string folderPath)
    {
        var target = Reserve(folderPath);
        if (DurableFileSystem.TryRenameWithinFileSystem(fullPath, target)) return;
        File.Copy(fullPath, target);
        File.Delete(fullPath);
    }

    /// <summary>Keeps a copy of a file that is about to be replaced (a second name for it where possible, no copying).</summary>
    public void Keep(string fullPath, string folderPath)
    {
        var target = Reserve(folderPath);
        if (!DurableFileSystem.TryCreateHardLink(fullPath, target)) File.Copy(fullPath, target);
    }

    private string Reserve(string folderPath)
    {
        var stamp = time.GetUtcNow().ToString(StampFormat, CultureInfo.InvariantCulture);
        var target = Path.Combine(Directory, stamp, folderPath.Replace('/', Path.DirectorySeparatorChar));
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        for (var n = 1; File.Exists(target) || System.IO.Directory.Exists(target); n++) target = $"{target}.{n}";
        return target;
    }

    /// <summary>Removes what has been in the trash longer than the retention period.</summary>
    public void Expire()
    {
        if (!System.IO.Directory.Exists(Directory)) return;
        var cutoff = time.GetUtcNow() - retention;
        foreach (var moment in System.IO.Directory.EnumerateDirectories(Directory))
        {
            if (DateTime.TryParseExact(Path.GetFileName(moment), StampFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at)
                && at < cutoff.UtcDateTime)
            {
                System.IO.Directory.Delete(moment, recursive: true);
            }
        }
    }
}
