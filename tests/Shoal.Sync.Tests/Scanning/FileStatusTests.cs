using System.Runtime.Versioning;
using Shoal.Sync.Scanning;

namespace Shoal.Sync.Tests.Scanning;

[SupportedOSPlatform("linux")]
public sealed class FileStatusTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void A_regular_file_is_described_as_FileSystemInfo_sees_it_with_nanoseconds_and_inode()
    {
        var full = _folder.Write("f.txt", "hello");
        File.SetUnixFileMode(full, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.SetUser);

        var status = FileStatus.Get(full)!.Value;

        Assert.Equal(FileStatusKind.File, status.Kind);
        Assert.Equal(5, status.Size);
        Assert.Equal(0x9A0u /* 0o4640 */, status.Permissions);
        Assert.Equal(File.GetLastWriteTimeUtc(full).Ticks - DateTime.UnixEpoch.Ticks, status.ModifiedUnixNs / 100);
        Assert.NotEqual(0ul, status.Inode);
    }

    [Fact]
    public void Nanoseconds_are_kept()
    {
        var full = _folder.Write("f.txt", "hello");
        var time = new DateTime(2024, 2, 29, 13, 14, 15, DateTimeKind.Utc).AddTicks(1234567);
        File.SetLastWriteTimeUtc(full, time);

        Assert.Equal((time.Ticks - DateTime.UnixEpoch.Ticks) * 100, FileStatus.Get(full)!.Value.ModifiedUnixNs);
    }

    [Fact]
    public void Directories_links_and_special_files_are_told_apart_without_following_links()
    {
        var file = _folder.Write("f.txt", "hello");
        var directory = _folder.CreateDirectory("d");
        File.CreateSymbolicLink(_folder.Full("file-link"), file);
        File.CreateSymbolicLink(_folder.Full("dir-link"), directory);
        File.CreateSymbolicLink(_folder.Full("dangling"), _folder.Full("nowhere"));
        Posix.CreateFifo(_folder.Full("pipe"));

        Assert.Equal(FileStatusKind.Directory, FileStatus.Get(directory)!.Value.Kind);
        Assert.Equal(FileStatusKind.Symlink, FileStatus.Get(_folder.Full("file-link"))!.Value.Kind);
        Assert.Equal(FileStatusKind.Symlink, FileStatus.Get(_folder.Full("dir-link"))!.Value.Kind);
        Assert.Equal(FileStatusKind.Symlink, FileStatus.Get(_folder.Full("dangling"))!.Value.Kind);
        Assert.Equal(FileStatusKind.Other, FileStatus.Get(_folder.Full("pipe"))!.Value.Kind);
        Assert.NotEqual(FileStatus.Get(file)!.Value.Inode, FileStatus.Get(_folder.Full("file-link"))!.Value.Inode);
    }

    [Fact]
    public void A_missing_entry_is_null_even_below_a_file()
    {
        var file = _folder.Write("f.txt", "hello");

        Assert.Null(FileStatus.Get(_folder.Full("missing")));
        Assert.Null(FileStatus.Get(_folder.Full("missing/deeper")));
        Assert.Null(FileStatus.Get(Path.Combine(file, "below-a-file")));
    }

    [Fact]
    public void Other_failures_throw_with_the_system_message()
    {
        var error = Assert.Throws<IOException>(() => FileStatus.Get(_folder.Full(new string('n', 300))));

        Assert.Contains("File name too long", error.Message);
    }

    [Fact]
    public void An_open_handle_describes_the_file_it_has_open()
    {
        var full = _folder.Write("f.txt", "hello");
        using var handle = File.OpenHandle(full);

        Assert.Equal(FileStatus.Get(full), FileStatus.Get(handle));
    }
}
