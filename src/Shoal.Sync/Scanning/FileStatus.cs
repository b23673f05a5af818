using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Shoal.Core.Folder;

namespace Shoal.Sync.Scanning;

public enum FileStatusKind : byte
{
    File,
    Directory,
    Symlink,

    /// <summary>A device, FIFO or socket: nothing that can be synced.</summary>
    Other,
}

/// <summary>
/// What the scanner needs to know about one directory entry, read without following a symbolic link (lstat).
/// On Linux this is one statx call, with nanosecond times and the inode that FileSystemInfo does not expose.
/// </summary>
/// <param name="Permissions">Unix permission bits (mode &amp; 0o7777).</param>
/// <param name="Inode">0 where the platform does not expose one.</param>
public readonly partial record struct FileStatus(FileStatusKind Kind, long Size, long ModifiedUnixNs, uint Permissions, ulong Inode)
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxBasicStats = 0x7ff;

    private const int ENoEnt = 2;
    private const int ENotDir = 20;
    private const int ENoSys = 38;

    // Octal 0170000, 0100000, 0040000, 0120000 and 07777: C# has no octal literals.
    private const int SIfMt = 0xF000;
    private const int SIfReg = 0x8000;
    private const int SIfDir = 0x4000;
    private const int SIfLnk = 0xA000;
    private const uint PermissionBits = 0xFFF;

    // Set once statx turns out to be missing (a C library or kernel older than 2018, or a seccomp filter that
    // refuses it); from then on the portable path is used.
    private static volatile bool _statxUnavailable;

    /// <summary>True if this is still the file <paramref name="entry"/> records: same size, modification time and inode.</summary>
    public bool IsFileOf(LocalEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return Kind == FileStatusKind.File && Size == entry.Record.Size && ModifiedUnixNs == entry.Record.ModifiedUnixNs && Inode == entry.Inode;
    }

    /// <summary>The entry at <paramref name="fullPath"/>, or null if there is none (or a parent is not a directory).</summary>
    /// <exception cref="IOException">Any other failure, such as a parent directory that cannot be searched.</exception>
    public static FileStatus? Get(string fullPath)
    {
        ArgumentNullException.ThrowIfNull(fullPath);
        if (OperatingSystem.IsLinux() && !_statxUnavailable)
        {
            int result;
            StatxBuffer buffer;
            try
            {
                result = Native.Statx(AtFdCwd, fullPath, AtSymlinkNoFollow, StatxBasicStats, out buffer);
            }
            catch (EntryPointNotFoundException)
            {
                _statxUnavailable = true;
                return GetPortable(fullPath);
            }

            if (result == 0) return FromStatx(buffer);
            var errno = Marshal.GetLastPInvokeError();
            if (errno is ENoEnt or ENotDir) return null;
            if (errno != ENoSys) throw Error($"Could not examine '{fullPath}'", errno);
            _statxUnavailable = true;
        }

        return GetPortable(fullPath);
    }

    /// <summary>
    /// The file <paramref name="handle"/> has open. Compared with an examination by name, it tells whether opening
    /// that name reached the same file (opening follows symbolic links; examining does not).
    /// </summary>
    public static FileStatus Get(SafeFileHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        if (OperatingSystem.IsLinux() && !_statxUnavailable)
        {
            var added = false;
            handle.DangerousAddRef(ref added);
            try
            {
                if (Native.Statx((int)handle.DangerousGetHandle(), "", AtEmptyPath, StatxBasicStats, out var buffer) == 0)
                {
                    return FromStatx(buffer);
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno != ENoSys) throw Error("Could not examine an open file", errno);
                _statxUnavailable = true;
            }
            catch (EntryPointNotFoundException)
            {
                _statxUnavailable = true;
            }
            finally
            {
                if (added) handle.DangerousRelease();
            }
        }

        var permissions = OperatingSystem.IsWindows() ? 0x1A4u /* 0o644 */ : (uint)File.GetUnixFileMode(handle);
        return new FileStatus(FileStatusKind.File, RandomAccess.GetLength(handle), ToUnixNs(File.GetLastWriteTimeUtc(handle)), permissions, 0);
    }

    private static FileStatus FromStatx(in StatxBuffer buffer)
    {
        var kind = (buffer.Mode & SIfMt) switch
        {
            SIfReg => FileStatusKind.File,
            SIfDir => FileStatusKind.Directory,
            SIfLnk => FileStatusKind.Symlink,
            _ => FileStatusKind.Other,
        };
        var modified = (buffer.ModifiedSeconds * 1_000_000_000) + buffer.ModifiedNanoseconds;
        return new FileStatus(kind, (long)buffer.Size, modified, buffer.Mode & PermissionBits, buffer.Inode);
    }

    /// <summary>FileSystemInfo cannot tell special files from regular ones; outside Linux they count as files.</summary>
    private static FileStatus? GetPortable(string fullPath)
    {
        FileAttributes attributes;
        try
        {
            attributes = File.GetAttributes(fullPath);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (UnauthorizedAccessException e)
        {
            throw new IOException($"Could not examine '{fullPath}': {e.Message}", e);
        }

        FileSystemInfo info = (attributes & FileAttributes.Directory) != 0 ? new DirectoryInfo(fullPath) : new FileInfo(fullPath);
        var kind = info.LinkTarget is not null ? FileStatusKind.Symlink
            : info is DirectoryInfo ? FileStatusKind.Directory
            : FileStatusKind.File;
        var size = info is FileInfo file && kind == FileStatusKind.File ? file.Length : 0;
        uint permissions;
        if (OperatingSystem.IsWindows())
        {
            // 0o755 for directories, 0o444 for read-only files, 0o644 for the rest.
            permissions = kind == FileStatusKind.Directory ? 0x1EDu : (attributes & FileAttributes.ReadOnly) != 0 ? 0x124u : 0x1A4u;
        }
        else
        {
            permissions = (uint)info.UnixFileMode;
        }

        return new FileStatus(kind, size, ToUnixNs(info.LastWriteTimeUtc), permissions, 0);
    }

    private static long ToUnixNs(DateTime utc) => (utc.Ticks - DateTime.UnixEpoch.Ticks) * 100;

    private static IOException Error(string what, int errno) => new($"{what}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);

    /// <summary>
    /// struct statx, of which only the fields read are declared. Its layout is fixed by the kernel ABI and is the
    /// same on every architecture: 256 bytes, naturally aligned, no padding that differs between 32 and 64 bits.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct StatxBuffer
    {
        [FieldOffset(28)]
        public ushort Mode;

        [FieldOffset(32)]
        public ulong Inode;

        [FieldOffset(40)]
        public ulong Size;

        [FieldOffset(112)]
        public long ModifiedSeconds;

        [FieldOffset(120)]
        public uint ModifiedNanoseconds;
    }

    private static partial class Native
    {
        [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Statx(int directoryFd, string path, int flags, uint mask, out StatxBuffer buffer);
    }
}
