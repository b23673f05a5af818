namespace Shoal.Core.Folder;

public enum EntryKind : byte
{
    File = 0,
    Directory = 1,
}

/// <summary>
/// One path of a synced folder as one device has it: what it is, its version, who last changed it and when.
/// Deletions are kept as tombstones (<see cref="Deleted"/>) so they propagate like edits.
/// </summary>
/// <param name="Path">Relative to the folder, '/'-separated, valid per <see cref="FolderPath"/>.</param>
/// <param name="ModifiedUnixNs">Modification time (for a deletion: when it was noticed), Unix nanoseconds.</param>
/// <param name="Permissions">Unix permission bits (0..0o7777).</param>
/// <param name="ModifiedBy">The device that made this version.</param>
/// <param name="Sequence">Where this record sits in its owner's index; each change gets the next number.</param>
/// <param name="Content">The file's id (its manifest's hash); default for directories and deletions.</param>
/// <param name="Manifest">The chunk list when it is known (always for a file in the local index; on the wire only for small files).</param>
public sealed record FileRecord(
    string Path,
    EntryKind Kind,
    bool Deleted,
    long Size,
    long ModifiedUnixNs,
    uint Permissions,
    DeviceId ModifiedBy,
    VersionVector Version,
    long Sequence,
    FileId Content,
    Manifest? Manifest)
{
    public bool IsFile => Kind == EntryKind.File;

    /// <summary>The modification time at the file system's .NET precision (100 ns), as File.GetLastWriteTimeUtc gives it.</summary>
    public DateTime ModifiedUtc => DateTime.UnixEpoch.AddTicks(ModifiedUnixNs / TimeSpan.NanosecondsPerTick);

    public DateTimeOffset ModifiedAt => new(ModifiedUtc);

    /// <summary>Same bytes (or both deleted, or both the same kind of directory): no transfer needed to go from one to the other.</summary>
    public bool SameContentAs(FileRecord other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (Deleted || other.Deleted) return Deleted == other.Deleted;
        return Kind == other.Kind && (Kind == EntryKind.Directory || Content == other.Content);
    }
}
