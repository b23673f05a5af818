using Shoal.Integration.Tests.Testbed;

namespace Shoal.Integration.Tests.Support;

/// <summary>A fact that mounts file systems (a tmpfs, an ext4 image on a loop device): it needs root; skipped anywhere else.</summary>
public sealed class MountFactAttribute : FactAttribute
{
    public const string SkipReason = "needs root to mount a small tmpfs or a loop device (disk-fault tests)";

    public MountFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || !RootFactAttribute.IsRoot()) Skip = SkipReason;
    }
}

/// <summary>Runs a mount-related command and fails the test with its output if it fails.</summary>
internal static class MountCommand
{
    public static async Task RunAsync(string program, params string[] args)
    {
        var result = await ProcessRunner.RunAsync(program, args, TimeSpan.FromSeconds(30));
        if (result.ExitCode != 0) throw new InvalidOperationException($"{program} {string.Join(' ', args)}: {ProcessRunner.Describe(result)}");
    }

    /// <summary>Unmounts, lazily if something still has a file open there (the test is ending either way).</summary>
    public static async Task UnmountAsync(string path)
    {
        if ((await ProcessRunner.RunAsync("umount", [path], TimeSpan.FromSeconds(30))).ExitCode != 0)
        {
            await ProcessRunner.RunAsync("umount", ["-l", path], TimeSpan.FromSeconds(30));
        }
    }
}

/// <summary>
/// A small tmpfs, for a disk that fills up: <see cref="FillAsync"/> takes all but some of its room with a filler file and
/// <see cref="Free"/> gives it back, as a user deleting something would. Unmounted and removed on dispose.
/// </summary>
public sealed class Tmpfs : IAsyncDisposable
{
    private Tmpfs(string path) => Path = path;

    public string Path { get; }

    private string Filler => System.IO.Path.Combine(Path, "filler");

    public static async Task<Tmpfs> MountAsync(long bytes, string? at = null)
    {
        var path = at ?? System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"shoal-tmpfs-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        await MountCommand.RunAsync("mount", "-t", "tmpfs", "-o", $"size={bytes}", "tmpfs", path);
        return new Tmpfs(path);
    }

    public long AvailableBytes => new DriveInfo(Path).AvailableFreeSpace;

    /// <summary>Writes a filler until only <paramref name="leaveBytes"/> (0: nothing at all) are left.</summary>
    public void Fill(long leaveBytes = 0)
    {
        var block = new byte[64 * 1024];
        using var filler = new FileStream(Filler, FileMode.Append, FileAccess.Write, FileShare.None, 0);
        try
        {
            for (var room = AvailableBytes - leaveBytes; room > 0; room = AvailableBytes - leaveBytes)
            {
                filler.Write(block, 0, (int)Math.Min(block.Length, room));
            }
        }
        catch (IOException) when (leaveBytes == 0)
        {
            // Full to the last page, which is what was asked for.
        }
    }

    public void Free() => File.Delete(Filler);

    public async ValueTask DisposeAsync()
    {
        await MountCommand.UnmountAsync(Path);
        Directory.Delete(Path);
    }
}

/// <summary>
/// A disk that fails reads with a real EIO: an ext4 image on a loop device, mounted where the test says, whose files
/// are written first; then the device is cut to its first MiB under the mounted file system. Names and sizes are still
/// there (cached), but reading any file's data goes beyond the end of the device, which the kernel fails with EIO. There
/// is no device mapper on these kernels, and a chmod 000 file would not stop a test running as root.
/// </summary>
public sealed class BrokenDisk : IAsyncDisposable
{
    private readonly string _image;
    private string? _loop;

    private BrokenDisk(string path, string image)
    {
        Path = path;
        _image = image;
    }

    public string Path { get; }

    /// <summary>Mounts a fresh file system at <paramref name="path"/>, lets <paramref name="write"/> fill it, then breaks it.</summary>
    public static Task<BrokenDisk> CreateAsync(string path, Action<string> write) =>
        CreateAsync(path, directory =>
        {
            write(directory);
            return Task.CompletedTask;
        });

    /// <summary>As the other overload; <paramref name="write"/> may also use the files while they can still be read.</summary>
    public static async Task<BrokenDisk> CreateAsync(string path, Func<string, Task> write)
    {
        var disk = new BrokenDisk(path, System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"shoal-broken-{Guid.NewGuid():N}.img"));
        try
        {
            await disk.BreakAsync(write);
            return disk;
        }
        catch
        {
            await disk.DisposeAsync();
            throw;
        }
    }

    private async Task BreakAsync(Func<string, Task> write)
    {
        const long ImageBytes = 64L << 20;
        const long KeptBytes = 1L << 20;
        using (var image = File.Create(_image)) image.SetLength(ImageBytes);
        await MountCommand.RunAsync("mkfs.ext4", "-q", "-F", "-b", "4096", _image);
        var attached = await ProcessRunner.RunAsync("losetup", ["-f", "--show", _image], TimeSpan.FromSeconds(30));
        if (attached.ExitCode != 0) throw new InvalidOperationException($"losetup: {ProcessRunner.Describe(attached)}");
        _loop = attached.Stdout.Trim();
        Directory.CreateDirectory(Path);
        await MountCommand.RunAsync("mount", "-o", "errors=continue", _loop, Path);
        Directory.Delete(System.IO.Path.Combine(Path, "lost+found"));
        await write(Path);

        // Mounted again so no data stays in the page cache; listing and stat-ing then caches the names and sizes,
        // which the file system no longer could read once the device is cut short.
        await MountCommand.RunAsync("umount", Path);
        await MountCommand.RunAsync("mount", "-o", "errors=continue", _loop, Path);
        foreach (var entry in Directory.EnumerateFileSystemEntries(Path, "*", SearchOption.AllDirectories)) _ = new FileInfo(entry).Length;
        using (var image = new FileStream(_image, FileMode.Open, FileAccess.Write)) image.SetLength(KeptBytes);
        await MountCommand.RunAsync("losetup", "-c", _loop);
    }

    public async ValueTask DisposeAsync()
    {
        if (_loop is not null)
        {
            await MountCommand.UnmountAsync(Path);
            await ProcessRunner.RunAsync("losetup", ["-d", _loop], TimeSpan.FromSeconds(30));
        }

        if (Directory.Exists(Path) && !Directory.EnumerateFileSystemEntries(Path).Any()) Directory.Delete(Path);
        File.Delete(_image);
    }
}
