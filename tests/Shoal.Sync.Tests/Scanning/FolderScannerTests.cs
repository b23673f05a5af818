using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Core;
using Shoal.Core.Folder;
using Shoal.Sync.Scanning;

namespace Shoal.Sync.Tests.Scanning;

[SupportedOSPlatform("linux")]
public sealed class FolderScannerTests : IDisposable
{
    private static readonly DeviceId Self = Records.Device(7);
    private static readonly DeviceId Other = Records.Device(9);
    private static readonly ulong SelfKey = VersionVector.KeyOf(Self);
    private static readonly ulong StartSeconds = (ulong)ManualClock.Start.ToUnixTimeSeconds();

    private readonly TestFolder _folder = new();
    private readonly ManualClock _clock = new();
    private readonly TestIndex _index = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task New_files_and_directories_are_recorded_each_directory_before_its_contents()
    {
        _folder.Write("top.txt", "hello");
        _folder.Write("a/b/f.txt", "nested");
        _folder.CreateDirectory("empty");

        var result = await ScanAsync();

        Assert.Equal(["a", "a/b", "a/b/f.txt", "empty", "top.txt"], Paths(result));
        Assert.Empty(result.Skipped);
        Assert.Equal(2, result.FilesHashed);
        Assert.Equal(11, result.BytesHashed);

        var file = Change(result, "a/b/f.txt");
        var expected = await FileIndexer.IndexFileAsync(_folder.Full("a/b/f.txt"), null, CancellationToken.None);
        var status = FileStatus.Get(_folder.Full("a/b/f.txt"))!.Value;
        Assert.Equal(EntryKind.File, file.Record.Kind);
        Assert.False(file.Record.Deleted);
        Assert.Equal(6, file.Record.Size);
        Assert.Equal(expected.Id, file.Record.Content);
        Assert.Equal(expected.Id, file.Record.Manifest!.Id);
        Assert.Equal(status.ModifiedUnixNs, file.Record.ModifiedUnixNs);
        Assert.Equal((uint)File.GetUnixFileMode(_folder.Full("a/b/f.txt")), file.Record.Permissions);
        Assert.Equal(status.Inode, file.Inode);
        Assert.NotEqual(0ul, file.Inode);
        Assert.Equal(Self, file.Record.ModifiedBy);
        Assert.Equal(0, file.Record.Sequence);
        Assert.Equal(VersionVector.Empty.Increment(SelfKey, StartSeconds), file.Record.Version);

        var directory = Change(result, "a/b");
        Assert.Equal(EntryKind.Directory, directory.Record.Kind);
        Assert.Equal(0, directory.Record.Size);
        Assert.Equal(default, directory.Record.Content);
        Assert.Null(directory.Record.Manifest);
        Assert.Equal((uint)File.GetUnixFileMode(_folder.Full("a/b")), directory.Record.Permissions);
        Assert.Equal(Self, directory.Record.ModifiedBy);
    }

    [Fact]
    public async Task Temp_files_are_never_indexed_but_are_reported_for_clearing()
    {
        _folder.Write("d/f.txt", "content");
        _folder.Write("d/" + FolderPath.TempPrefix + "abc.f.txt", "partial");
        _folder.Write(FolderPath.TempPrefix + "def.top.txt", "partial");

        var result = await ScanAsync();

        Assert.Equal(["d", "d/f.txt"], Paths(result));
        Assert.Equal([FolderPath.TempPrefix + "def.top.txt", "d/" + FolderPath.TempPrefix + "abc.f.txt"], result.TempFiles.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_rescan_of_an_unchanged_folder_hashes_nothing_and_ignores_directory_times()
    {
        _folder.Write("d/f.txt", "content");
        _folder.Write("g.txt", "more");
        await ScanAsync();

        // A temp file coming and going changes the directory's modification time, and nothing else.
        File.Delete(_folder.Write("d/" + FolderPath.TempPrefix + "x", "partial"));

        var result = await ScanAsync();

        Assert.Empty(result.Changes);
        Assert.Empty(result.Skipped);
        Assert.Equal(0, result.FilesHashed);
        Assert.Equal(0, result.BytesHashed);
    }

    [Fact]
    public async Task A_permission_change_keeps_the_content_and_makes_a_new_version_without_hashing()
    {
        var full = _folder.Write("d/f.txt", "content");
        await ScanAsync();
        var before = _index.Entries["d/f.txt"].Record;

        File.SetUnixFileMode(full, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.SetUnixFileMode(_folder.Full("d"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var result = await ScanAsync();

        Assert.Equal(0, result.FilesHashed);
        Assert.Equal(["d", "d/f.txt"], Paths(result));
        var file = Change(result, "d/f.txt").Record;
        Assert.Equal(0x180u /* 0o600 */, file.Permissions);
        Assert.Equal(before.Content, file.Content);
        Assert.Same(before.Manifest, file.Manifest);
        Assert.Equal(before.ModifiedUnixNs, file.ModifiedUnixNs);
        Assert.Equal(Causality.Newer, file.Version.Compare(before.Version));
        Assert.Equal(0x1C0u /* 0o700 */, Change(result, "d").Record.Permissions);
    }

    [Fact]
    public async Task Changed_content_is_hashed_again()
    {
        var full = _folder.Write("f.txt", "first");
        await ScanAsync();
        var before = _index.Entries["f.txt"].Record;

        File.WriteAllText(full, "second version");
        var result = await ScanAsync();

        Assert.Equal(1, result.FilesHashed);
        var after = Assert.Single(result.Changes).Record;
        var expected = await FileIndexer.IndexFileAsync(full, null, CancellationToken.None);
        Assert.Equal(expected.Id, after.Content);
        Assert.NotEqual(before.Content, after.Content);
        Assert.Equal(14, after.Size);
        Assert.Equal(Causality.Newer, after.Version.Compare(before.Version));
    }

    [Fact]
    public async Task A_touched_file_gets_a_new_version_with_the_same_content()
    {
        var full = _folder.Write("f.txt", "content");
        await ScanAsync();
        var before = _index.Entries["f.txt"].Record;

        var later = DateTime.UtcNow.AddMinutes(5);
        File.SetLastWriteTimeUtc(full, later);
        var result = await ScanAsync();

        Assert.Equal(1, result.FilesHashed);
        var after = Assert.Single(result.Changes).Record;
        Assert.Equal(before.Content, after.Content);
        Assert.Same(before.Manifest, after.Manifest);
        Assert.Equal((later.Ticks - DateTime.UnixEpoch.Ticks) * 100, after.ModifiedUnixNs);
        Assert.Equal(Causality.Newer, after.Version.Compare(before.Version));
    }

    [Fact]
    public async Task A_file_replaced_by_the_same_bytes_and_times_only_refreshes_the_inode()
    {
        var full = _folder.Write("f.txt", "content");
        var time = new DateTime(2025, 6, 1, 12, 0, 0, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(full, time);
        await ScanAsync();
        var before = _index.Entries["f.txt"];

        // What an editor's save-by-rename does when nothing changed.
        var replacement = _folder.Write("f.new", "content");
        File.SetUnixFileMode(replacement, File.GetUnixFileMode(full));
        File.SetLastWriteTimeUtc(replacement, time);
        File.Move(replacement, full, overwrite: true);
        var result = await ScanAsync();

        var change = Assert.Single(result.Changes);
        Assert.Equal(before.Record, change.Record);
        Assert.NotEqual(before.Inode, change.Inode);
        Assert.Equal(FileStatus.Get(full)!.Value.Inode, change.Inode);
    }

    [Fact]
    public async Task A_deleted_file_becomes_a_tombstone()
    {
        var full = _folder.Write("f.txt", "content");
        await ScanAsync();
        var before = _index.Entries["f.txt"].Record;

        File.Delete(full);
        _clock.Advance(TimeSpan.FromSeconds(30));
        var result = await ScanAsync();

        var change = Assert.Single(result.Changes);
        var tombstone = change.Record;
        Assert.True(tombstone.Deleted);
        Assert.Equal(EntryKind.File, tombstone.Kind);
        Assert.Equal(0, tombstone.Size);
        Assert.Equal(default, tombstone.Content);
        Assert.Null(tombstone.Manifest);
        Assert.Equal(before.Permissions, tombstone.Permissions);
        Assert.Equal((ManualClock.Start.AddSeconds(30) - DateTimeOffset.UnixEpoch).Ticks * 100, tombstone.ModifiedUnixNs);
        Assert.Equal(Self, tombstone.ModifiedBy);
        Assert.Equal(0, tombstone.Sequence);
        Assert.Equal(StartSeconds + 30, tombstone.Version.Get(SelfKey));
        Assert.Equal(0ul, change.Inode);

        var again = await ScanAsync();
        Assert.Empty(again.Changes);
    }

    [Fact]
    public async Task A_file_recorded_while_the_scan_runs_is_not_taken_for_deleted()
    {
        // The node's puller moves a file into place and records it after the scan listed its directory: the index
        // the scan reads has the file, the listing does not. Taken for deleted, it would be deleted on every peer.
        var late = _folder.Write("d/late.txt", "pulled");
        await ScanAsync();
        var entry = _index.Entries["d/late.txt"];
        File.Delete(late);
        _index.Entries.Remove("d/late.txt");
        _folder.Write("d/trigger.txt", "new");
        var pulled = 0;
        var logger = new HookLogger(message =>
        {
            if (!message.StartsWith("Hashing d/trigger.txt", StringComparison.Ordinal) || Interlocked.Exchange(ref pulled, 1) == 1) return;
            _folder.Write("d/late.txt", "pulled");
            _index.Entries["d/late.txt"] = entry;
        });

        var result = await ScanAsync(logger: logger);

        Assert.Equal(1, pulled);
        Assert.Equal(["d/trigger.txt"], Paths(result));
    }

    [Fact]
    public async Task A_deleted_tree_becomes_tombstones_deepest_first()
    {
        _folder.Write("a/b/c.txt", "c");
        _folder.Write("a/d.txt", "d");
        _folder.Write("keep.txt", "k");
        await ScanAsync();

        Directory.Delete(_folder.Full("a"), recursive: true);
        var result = await ScanAsync();

        Assert.Equal(["a/d.txt", "a/b/c.txt", "a/b", "a"], Paths(result));
        Assert.All(result.Changes, c => Assert.True(c.Record.Deleted));
        Assert.Equal(EntryKind.Directory, Change(result, "a/b").Record.Kind);
    }

    [Fact]
    public async Task A_file_replaced_by_a_directory_becomes_a_directory()
    {
        var full = _folder.Write("x", "file");
        await ScanAsync();
        var before = _index.Entries["x"].Record;

        File.Delete(full);
        _folder.Write("x/y.txt", "inside");
        var result = await ScanAsync();

        Assert.Equal(["x", "x/y.txt"], Paths(result));
        var directory = Change(result, "x").Record;
        Assert.Equal(EntryKind.Directory, directory.Kind);
        Assert.False(directory.Deleted);
        Assert.Null(directory.Manifest);
        Assert.Equal(Causality.Newer, directory.Version.Compare(before.Version));
    }

    [Fact]
    public async Task A_directory_replaced_by_a_file_deletes_what_was_inside_first()
    {
        _folder.Write("d/z.txt", "inside");
        await ScanAsync();

        Directory.Delete(_folder.Full("d"), recursive: true);
        _folder.Write("d", "now a file");
        var result = await ScanAsync();

        Assert.Equal(["d/z.txt", "d"], Paths(result));
        Assert.True(Change(result, "d/z.txt").Record.Deleted);
        var file = Change(result, "d").Record;
        Assert.Equal(EntryKind.File, file.Kind);
        Assert.False(file.Deleted);
        Assert.Equal(10, file.Size);
    }

    [Fact]
    public async Task Ignored_paths_produce_no_records_and_no_deletions()
    {
        _folder.Write("keep.txt", "k");
        _folder.Write("debug.log", "log");
        _folder.Write("build/out.bin", "bin");
        var ignore = IgnoreRules.Parse("*.log\nbuild/\n");

        var result = await ScanAsync(ignore, apply: false);
        Assert.Equal(["keep.txt"], Paths(result));
        Assert.Empty(result.Skipped);

        // Known from before the rules existed: ignoring them now must not delete them on every other device.
        await ScanAsync();
        Assert.Equal(4, _index.Entries.Count);
        File.Delete(_folder.Full("debug.log"));
        Directory.Delete(_folder.Full("build"), recursive: true);
        Assert.Empty((await ScanAsync(ignore)).Changes);
    }

    [Fact]
    public async Task Symbolic_links_are_skipped_and_never_followed()
    {
        using var outside = new TestFolder();
        outside.Write("secret/data.txt", "not ours");
        _folder.Write("real.txt", "ours");
        File.CreateSymbolicLink(_folder.Full("dir-link"), outside.Full("secret"));
        File.CreateSymbolicLink(_folder.Full("file-link"), outside.Full("secret/data.txt"));

        var result = await ScanAsync();

        Assert.Equal(["real.txt"], Paths(result));
        Assert.Equal(1, result.FilesHashed);
        Assert.Equal(["dir-link", "file-link"], result.Skipped.Select(s => s.Path));
        Assert.All(result.Skipped, s => Assert.Contains("symbolic link", s.Reason));

        var partial = await ScanAsync(only: ["dir-link/data.txt", "file-link"]);
        Assert.Empty(partial.Changes);
        Assert.Equal(0, partial.FilesHashed);
        Assert.Equal(["file-link"], partial.Skipped.Select(s => s.Path));
    }

    [Fact]
    public async Task A_directory_replaced_by_a_symbolic_link_loses_its_contents_but_not_its_own_record()
    {
        using var outside = new TestFolder();
        outside.Write("f.txt", "elsewhere");
        _folder.Write("d/f.txt", "here");
        await ScanAsync();

        Directory.Delete(_folder.Full("d"), recursive: true);
        File.CreateSymbolicLink(_folder.Full("d"), outside.Root);
        var result = await ScanAsync();

        var tombstone = Assert.Single(result.Changes);
        Assert.Equal("d/f.txt", tombstone.Record.Path);
        Assert.True(tombstone.Record.Deleted);
        Assert.Equal("d", Assert.Single(result.Skipped).Path);
        Assert.Equal(0, result.FilesHashed);
    }

    [Fact]
    public async Task Special_files_are_skipped_without_being_opened()
    {
        Posix.CreateFifo(_folder.Full("pipe"));
        _folder.Write("f.txt", "f");

        var result = await ScanAsync();

        Assert.Equal(["f.txt"], Paths(result));
        var skipped = Assert.Single(result.Skipped);
        Assert.Equal("pipe", skipped.Path);
        Assert.Contains("FIFO", skipped.Reason);
    }

    [Fact]
    public async Task Names_that_are_no_valid_folder_path_are_skipped()
    {
        _folder.Write("ok.txt", "fine");
        _folder.Write("CON", "reserved on Windows");
        _folder.Write("back\\slash.txt", "a backslash");
        _folder.Write("ends-with-dot.", "dot");
        _folder.Write("bad\\dir/inner.txt", "below an invalid name");

        var result = await ScanAsync();

        Assert.Equal(["ok.txt"], Paths(result));
        Assert.Equal(["CON", "back\\slash.txt", "bad\\dir", "ends-with-dot."], result.Skipped.Select(s => s.Path));
        Assert.All(result.Skipped, s => Assert.NotEmpty(s.Reason));
    }

    [Fact]
    public async Task Temp_files_are_skipped_silently()
    {
        _folder.Write(FolderPath.TempPrefix + "abc.f.txt", "partial");
        _folder.Write("d/" + FolderPath.TempPrefix + "x", "partial");
        _folder.Write(FolderPath.TempPrefix + "dir/inner.txt", "partial");

        var result = await ScanAsync();

        Assert.Equal(["d"], Paths(result));
        Assert.Empty(result.Skipped);
        Assert.Equal(0, result.FilesHashed);
        Assert.Empty((await ScanAsync(only: ["d/" + FolderPath.TempPrefix + "x"])).Changes);
    }

    [Fact]
    public async Task Only_the_given_paths_are_scanned()
    {
        _folder.Write("a/1.txt", "1");
        _folder.Write("a/2.txt", "2");
        _folder.Write("b/3.txt", "3");
        _folder.Write("top.txt", "top");
        await ScanAsync();

        File.WriteAllText(_folder.Full("a/1.txt"), "1 changed");
        File.WriteAllText(_folder.Full("b/3.txt"), "3 changed");
        _folder.Write("a/new.txt", "new");
        File.Delete(_folder.Full("top.txt"));

        Assert.Equal(["a/1.txt"], Paths(await ScanAsync(only: ["a/1.txt"], apply: false)));
        Assert.Equal(["a/1.txt", "a/new.txt"], Paths(await ScanAsync(only: ["a", "a/1.txt", "a/"], apply: false)));
        Assert.Equal(["b/3.txt"], Paths(await ScanAsync(only: ["b"], apply: false)));
        var deleted = await ScanAsync(only: ["top.txt"], apply: false);
        Assert.True(Assert.Single(deleted.Changes).Record.Deleted);
        Assert.Empty((await ScanAsync(only: ["missing/deeper"], apply: false)).Changes);
        Assert.Equal(4, (await ScanAsync(only: [""], apply: false)).Changes.Count);
    }

    [Fact]
    public async Task A_given_path_that_is_gone_is_deleted_with_everything_below_it()
    {
        _folder.Write("a/b/1.txt", "1");
        _folder.Write("a/2.txt", "2");
        _folder.Write("p/q.txt", "q");
        _folder.Write("other.txt", "o");
        await ScanAsync();

        Directory.Delete(_folder.Full("a"), recursive: true);
        Directory.Delete(_folder.Full("p"), recursive: true);
        _folder.Write("p", "p is a file now");
        File.Delete(_folder.Full("other.txt"));

        var gone = await ScanAsync(only: ["a"], apply: false);
        Assert.Equal(["a/b/1.txt", "a/b", "a/2.txt", "a"], Paths(gone));
        Assert.All(gone.Changes, c => Assert.True(c.Record.Deleted));

        // The parent is a file now: the path is gone, though the scan was not asked about the parent itself.
        var belowFile = await ScanAsync(only: ["p/q.txt"], apply: false);
        Assert.Equal(["p/q.txt"], Paths(belowFile));
        Assert.True(belowFile.Changes[0].Record.Deleted);
    }

    [Fact]
    public async Task Versions_extend_the_known_version_with_this_device()
    {
        var full = _folder.Write("f.txt", "content");
        var otherKey = VersionVector.KeyOf(Other);
        var fromOther = Records.File(Records.Version((otherKey, 5)), device: 9, path: "f.txt");
        _index.Entries["f.txt"] = new LocalEntry(fromOther, 1);

        var result = await ScanAsync();

        var record = Assert.Single(result.Changes).Record;
        Assert.Equal(Self, record.ModifiedBy);
        Assert.Equal(5ul, record.Version.Get(otherKey));
        Assert.Equal(StartSeconds, record.Version.Get(SelfKey));
        Assert.Equal(Causality.Newer, record.Version.Compare(fromOther.Version));

        // The clock has not moved: the counter still goes up.
        File.WriteAllText(full, "changed");
        var next = Assert.Single((await ScanAsync()).Changes).Record;
        Assert.Equal(StartSeconds + 1, next.Version.Get(SelfKey));
    }

    [Fact]
    public async Task A_file_written_to_while_it_is_hashed_is_left_for_the_next_scan()
    {
        var full = _folder.Write("growing.bin", new string('x', 100_000));
        _folder.Write("steady.txt", "steady");
        var appended = false;
        var logger = new HookLogger(message =>
        {
            // The scanner logs this between examining the file and reading it.
            if (!appended && message.StartsWith("Hashing growing.bin", StringComparison.Ordinal))
            {
                appended = true;
                File.AppendAllText(full, "more");
            }
        });

        var result = await ScanAsync(logger: logger);

        Assert.True(appended);
        Assert.Equal(["steady.txt"], Paths(result));
        var skipped = Assert.Single(result.Skipped);
        Assert.Equal("growing.bin", skipped.Path);
        Assert.Contains("changed while it was being read", skipped.Reason);

        var next = await ScanAsync();
        Assert.Equal(100_004, Assert.Single(next.Changes).Record.Size);
    }

    [Fact]
    public async Task A_missing_folder_is_an_error_not_a_deletion_of_everything()
    {
        var scanner = new FolderScanner(Path.Combine(_folder.Root, "unmounted"), Self, _clock, NullLogger.Instance);

        var error = await Assert.ThrowsAsync<DirectoryNotFoundException>(
            () => scanner.ScanAsync(_index.Entries, IgnoreRules.Empty, null, CancellationToken.None));
        Assert.Contains("unmounted", error.Message);
    }

    [Fact]
    public async Task Many_small_files_are_hashed_once_then_only_examined()
    {
        for (var d = 0; d < 10; d++)
        {
            for (var f = 0; f < 100; f++) _folder.Write($"d{d}/f{f}.txt", $"file {d}/{f}");
        }

        var first = await ScanAsync();
        Assert.Equal(1010, first.Changes.Count);
        Assert.Equal(1000, first.FilesHashed);

        var second = await ScanAsync();
        Assert.Empty(second.Changes);
        Assert.Equal(0, second.FilesHashed);
    }

    private async Task<ScanResult> ScanAsync(
        IgnoreRules? ignore = null, IReadOnlyCollection<string>? only = null, ILogger? logger = null, bool apply = true)
    {
        var scanner = new FolderScanner(_folder.Root, Self, _clock, logger ?? NullLogger.Instance);
        var result = await scanner.ScanAsync(_index.Entries, ignore ?? IgnoreRules.Empty, only, CancellationToken.None);
        if (apply) _index.Apply(result.Changes);
        return result;
    }

    private static string[] Paths(ScanResult result) => [.. result.Changes.Select(c => c.Record.Path)];

    private static LocalEntry Change(ScanResult result, string path) => result.Changes.Single(c => c.Record.Path == path);
}
