using System.Runtime.InteropServices;

namespace Shoal.Storage;

/// <summary>
/// The two file-system operations .NET does not offer: fsync of a directory (File.OpenHandle refuses
/// directories) and a rename that fails across file systems instead of silently copying (File.Move falls back to
/// copying straight to the destination name, which leaves a partial file there if the machine stops mid-copy).
/// </summary>
public static class DurableFileSystem
{
    private const int EIntr = 4;
    private const int EXDev = 18;
    private const int EInval = 22;
    private const int EPerm = 1;
    private const int EMLink = 31;
    private const int ENotSup = 95;
    private const int ORdOnly = 0;
    private const int OCloExecLinux = 0x80000;
    private const int OCloExecMacOS = 0x1000000;

    private const uint MoveFileReplaceExisting = 0x1;
    private const uint MoveFileWriteThrough = 0x8;
    private const int ErrorNotSameDevice = 17;

    /// <summary>Makes renames and creations inside <paramref name="directory"/> durable.</summary>
    public static void FlushDirectory(string directory)
    {
        // NTFS journals directory changes itself and Windows has no fsync for a directory opened without
        // backup privileges; MoveFileEx's write-through flag covers the rename there.
        if (OperatingSystem.IsWindows()) return;

        var closeOnExec = OperatingSystem.IsLinux() ? OCloExecLinux : OperatingSystem.IsMacOS() ? OCloExecMacOS : 0;
        int fd;
        do
        {
            fd = Unix.Open(directory, ORdOnly | closeOnExec);
        }
        while (fd < 0 && Marshal.GetLastPInvokeError() == EIntr);

        if (fd < 0) throw UnixError($"Could not open directory '{directory}'", Marshal.GetLastPInvokeError());

        try
        {
            int result;
            do
            {
                result = Unix.FSync(fd);
            }
            while (result < 0 && Marshal.GetLastPInvokeError() == EIntr);

            if (result < 0)
            {
                // Some file systems (certain FUSE and network mounts) cannot sync a directory; they report EINVAL
                // and there is nothing more to do on them.
                var error = Marshal.GetLastPInvokeError();
                if (error != EInval) throw UnixError($"Could not flush directory '{directory}'", error);
            }
        }
        finally
        {
            Unix.Close(fd);
        }
    }

    /// <summary>
    /// Renames <paramref name="source"/> to <paramref name="destination"/>, replacing it, without ever copying.
    /// Returns false, with nothing changed, if the two are on different file systems.
    /// </summary>
    public static bool TryRenameWithinFileSystem(string source, string destination)
    {
        if (OperatingSystem.IsWindows())
        {
            if (Windows.MoveFileEx(source, destination, MoveFileReplaceExisting | MoveFileWriteThrough)) return true;
            var error = Marshal.GetLastPInvokeError();
            if (error == ErrorNotSameDevice) return false;
            throw new IOException($"Could not move '{source}' to '{destination}': {Marshal.GetPInvokeErrorMessage(error)}");
        }

        if (Unix.Rename(source, destination) == 0) return true;
        var errno = Marshal.GetLastPInvokeError();
        if (errno == EXDev) return false;
        throw UnixError($"Could not move '{source}' to '{destination}'", errno);
    }

    /// <summary>
    /// Gives <paramref name="existing"/> a second name without copying. Returns false, with nothing changed, where the
    /// file system cannot (different file systems, no hard links); the caller then copies.
    /// </summary>
    public static bool TryCreateHardLink(string existing, string link)
    {
        if (OperatingSystem.IsWindows()) return false;
        if (Unix.Link(existing, link) == 0) return true;
        var errno = Marshal.GetLastPInvokeError();
        if (errno is EXDev or EPerm or ENotSup or EMLink) return false;
        throw UnixError($"Could not link '{existing}' to '{link}'", errno);
    }

    private static IOException UnixError(string what, int errno) =>
        new($"{what}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);

    /// <summary>The runtime resolves "libc" to the platform's C library (libc.so.6 on glibc, libSystem on macOS).</summary>
    private static class Unix
    {
        [DllImport("libc", EntryPoint = "link", SetLastError = true)]
        public static extern int Link([MarshalAs(UnmanagedType.LPUTF8Str)] string existing, [MarshalAs(UnmanagedType.LPUTF8Str)] string link);

        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        public static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
        public static extern int FSync(int fd);

        [DllImport("libc", EntryPoint = "close", SetLastError = true)]
        public static extern int Close(int fd);

        [DllImport("libc", EntryPoint = "rename", SetLastError = true)]
        public static extern int Rename(
            [MarshalAs(UnmanagedType.LPUTF8Str)] string source,
            [MarshalAs(UnmanagedType.LPUTF8Str)] string destination);
    }

    private static class Windows
    {
        [DllImport("kernel32", EntryPoint = "MoveFileExW", CharSet = CharSet.Unicode, SetLastError = true)]
        [return: MarshalAs(UnmanagedType.Bool)]
        public static extern bool MoveFileEx(string existingFileName, string newFileName, uint flags);
    }
}
