using Microsoft.Data.Sqlite;
using Shoal.Core;

namespace Shoal.Storage;

/// <summary>
/// A write failed because the disk holding <see cref="Directory"/> has no room. What was written before stays valid:
/// the work can carry on from there once space is freed (<see cref="DiskSpace.WaitForRoomAsync"/>).
/// </summary>
public sealed class DiskFullException : IOException
{
    public DiskFullException(string directory, long neededBytes, Exception? inner = null)
        : base(Describe(directory, neededBytes), inner)
    {
        Directory = directory;
        NeededBytes = neededBytes;
        HResult = DiskSpace.ENOSPC;
    }

    /// <summary>Where the write went (a directory, so the message names something a user can go and clean up).</summary>
    public string Directory { get; }

    /// <summary>Room that would let the failed write succeed.</summary>
    public long NeededBytes { get; }

    private static string Describe(string directory, long needed) =>
        $"the disk holding {directory} is full ({ByteSize.Format(needed)} needed, {ByteSize.Format(DiskSpace.AvailableBytes(directory))} free)";
}

/// <summary>Recognises a full disk among I/O failures, and waits for room to come back.</summary>
public static class DiskSpace
{
    internal const int ENOSPC = 28;
    private const int EDQUOT = 122;
    private const int SqliteFull = 13;
    private const int WindowsDiskFull = unchecked((int)0x80070070);
    private const int WindowsHandleDiskFull = unchecked((int)0x80070027);

    /// <summary>What the catalog asks for when SQLite finds the disk full: a page or two, plus the WAL growing.</summary>
    public const long CatalogRoom = 1 << 20;

    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan LastRetry = TimeSpan.FromMinutes(5);

    /// <summary>True for ENOSPC and EDQUOT (however .NET wrapped them) and SQLite's "database or disk is full".</summary>
    public static bool IsFull(Exception exception) => exception switch
    {
        DiskFullException => true,
        IOException io when io.HResult is ENOSPC or EDQUOT or WindowsDiskFull or WindowsHandleDiskFull => true,
        SqliteException sqlite when sqlite.SqliteErrorCode == SqliteFull => true,
        _ => exception.InnerException is { } inner && IsFull(inner),
    };

    /// <summary>
    /// The failure as a <see cref="DiskFullException"/> if it is one. .NET reports a failed preallocation without the
    /// errno, so an I/O error while the disk has less room than <paramref name="neededBytes"/> counts as full too.
    /// </summary>
    public static DiskFullException? AsFull(Exception exception, string directory, long neededBytes) => exception switch
    {
        DiskFullException full => full,
        _ when IsFull(exception) => new DiskFullException(directory, neededBytes, exception),
        IOException when AvailableBytes(directory) < neededBytes => new DiskFullException(directory, neededBytes, exception),
        _ => null,
    };

    /// <summary>Bytes an unprivileged writer may still use on the file system holding <paramref name="path"/> (long.MaxValue if unknown).</summary>
    public static long AvailableBytes(string path)
    {
        for (var existing = Path.GetFullPath(path); existing.Length > 0; existing = Path.GetDirectoryName(existing) ?? "")
        {
            if (!System.IO.Directory.Exists(existing)) continue;
            try
            {
                return new DriveInfo(existing).AvailableFreeSpace;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                return long.MaxValue;
            }
        }

        return long.MaxValue;
    }

    /// <summary>
    /// Returns once the disk has <paramref name="full"/>'s room again (checked every second), or after a backoff that
    /// grows with <paramref name="attempt"/> (5 s to 5 min) in case the free space a quota leaves is not what statfs says.
    /// </summary>
    public static async Task WaitForRoomAsync(DiskFullException full, int attempt, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(full);
        ArgumentNullException.ThrowIfNull(time);
        var backoff = TimeSpan.FromTicks(Math.Min(LastRetry.Ticks, FirstRetry.Ticks << Math.Min(attempt, 16)));
        var deadline = time.GetUtcNow() + backoff;
        while (AvailableBytes(full.Directory) < full.NeededBytes && time.GetUtcNow() < deadline)
        {
            await Task.Delay(PollInterval, time, cancellationToken).ConfigureAwait(false);
        }
    }
}
