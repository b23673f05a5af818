using System.Net.Http.Json;
using Shoal.Core;
using Shoal.Core.Folder;
using Shoal.Integration.Tests.Support;
using Shoal.Node.Api;
using Shoal.Node.Home;
using Shoal.Protocol;

namespace Shoal.Integration.Tests;

/// <summary>Three real nodes (TLS on loopback, SQLite, real folders and watchers) keeping one folder the same.</summary>
public sealed class FolderSyncTests
{
    private static readonly TimeSpan SyncTimeout = TimeSpan.FromSeconds(20);

    private static async Task<(TestNode A, TestNode B, TestNode C)> StartTrioAsync()
    {
        var a = await TestNode.StartFoundingAsync("a");
        var b = await TestNode.StartJoiningAsync("b", a);
        var c = await TestNode.StartJoiningAsync("c", a);
        await b.WaitForPeerAsync(a);
        await c.WaitForPeerAsync(a);
        return (a, b, c);
    }

    internal static async Task WaitForFileAsync(TestNode node, string relative, string sha256)
    {
        try
        {
            await Eventually.TrueAsync(
                () => File.Exists(node.InFolder(relative)) && Safe(() => TestFiles.Sha256(node.InFolder(relative))) == sha256,
                $"{node.Node.Name} to have {relative} with the right content",
                SyncTimeout);
        }
        catch (TimeoutException e)
        {
            var folder = System.Text.Json.JsonSerializer.Serialize(await FolderAsync(node), ApiJson.Default.FolderDto);
            throw new TimeoutException($"{e.Message}; it has {string.Join(", ", FilesUnder(node))}; folder: {folder}", e);
        }
    }

    private static Task WaitForGoneAsync(TestNode node, string relative) =>
        Eventually.TrueAsync(
            () => !File.Exists(node.InFolder(relative)) && !Directory.Exists(node.InFolder(relative)),
            $"{relative} to disappear on {node.Node.Name}",
            SyncTimeout);

    private static string? Safe(Func<string> read)
    {
        try
        {
            return read();
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string Write(TestNode node, string relative, string text)
    {
        var path = node.InFolder(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return TestFiles.Sha256(path);
    }

    internal static async Task<FolderDto> FolderAsync(TestNode node) =>
        (await node.Api.GetFromJsonAsync("api/folder?events=1000", ApiJson.Default.FolderDto))!;

    private static IEnumerable<string> FilesUnder(TestNode node) =>
        Directory.EnumerateFiles(node.Folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(node.Folder, f).Replace('\\', '/')).Order(StringComparer.Ordinal);

    [Fact]
    public async Task Additions_edits_renames_deletions_and_directories_reach_every_node()
    {
        var (a, b, c) = await StartTrioAsync();
        await using var _ = a;
        await using var __ = b;
        await using var ___ = c;

        var small = Write(a, "notes/todo.txt", "buy milk\n");
        var big = TestFiles.Sha256(TestFiles.Create(a.InFolder("media/video.bin"), 6 * 1024 * 1024 + 17, seed: 7));
        Directory.CreateDirectory(a.InFolder("empty/inner"));
        var fromB = Write(b, "from-b.txt", "written on b");
        foreach (var node in new[] { a, b, c })
        {
            await WaitForFileAsync(node, "notes/todo.txt", small);
            await WaitForFileAsync(node, "media/video.bin", big);
            await WaitForFileAsync(node, "from-b.txt", fromB);
            await Eventually.TrueAsync(() => Directory.Exists(node.InFolder("empty/inner")), $"the empty directory on {node.Node.Name}", SyncTimeout);
        }

        // Edit on C (which only knows A): the change travels C → A → B.
        var edited = Write(c, "notes/todo.txt", "buy milk\nand bread\n");
        await WaitForFileAsync(a, "notes/todo.txt", edited);
        await WaitForFileAsync(b, "notes/todo.txt", edited);

        // A rename is a move on the other nodes, not a transfer.
        var receivedBefore = b.Node.DownloadedBytes;
        File.Move(a.InFolder("media/video.bin"), a.InFolder("media/renamed.bin"));
        await WaitForFileAsync(b, "media/renamed.bin", big);
        await WaitForGoneAsync(b, "media/video.bin");
        Assert.True(b.Node.DownloadedBytes - receivedBefore < 1024 * 1024, $"a rename moved {b.Node.DownloadedBytes - receivedBefore} bytes over the network");

        // Deletions propagate; the deleted copy is kept in the trash.
        File.Delete(b.InFolder("from-b.txt"));
        Directory.Delete(a.InFolder("empty"), recursive: true);
        foreach (var node in new[] { a, b, c })
        {
            await WaitForGoneAsync(node, "from-b.txt");
            await WaitForGoneAsync(node, "empty");
        }

        Assert.Contains(Directory.EnumerateFiles(c.Node.Home.TrashDirectory, "from-b.txt", SearchOption.AllDirectories), f => TestFiles.Sha256(f) == fromB);
        await Eventually.TrueAsync(
            async () => (await FolderAsync(c)).Events.Any(e => e.Path == "from-b.txt" && e.Kind == "deleted" && e.Device == b.Node.DeviceId.ToString()),
            "C's events to say that b deleted from-b.txt",
            SyncTimeout);
        Assert.Equal(FilesUnder(a), FilesUnder(b));
        Assert.Equal(FilesUnder(a), FilesUnder(c));
    }

    [Fact]
    public async Task Hundreds_of_small_files_dropped_at_once_arrive_whole_and_nothing_comes_back()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        await using var b = await TestNode.StartJoiningAsync("b", a);
        await b.WaitForPeerAsync(a);

        // More files than a pull batch holds, in several directories, empty ones and one just above a batch's size
        // limit; made beside the folder and moved in with one rename, as a user drops a directory in.
        var staging = Path.Combine(Path.GetDirectoryName(a.Folder)!, "staging");
        var expected = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < 600; i++)
        {
            var relative = $"d{i % 3}/f{i:D3}.bin";
            var full = Path.Combine(staging, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            expected["drop/" + relative] = TestFiles.Sha256(TestFiles.Create(full, i % 50 == 0 ? 0 : 1 + (i * 37 % 8192), seed: i));
        }

        expected["drop/larger.bin"] = TestFiles.Sha256(TestFiles.Create(Path.Combine(staging, "larger.bin"), 100 * 1024, seed: 1000));
        Directory.Move(staging, a.InFolder("drop"));

        foreach (var (relative, sha256) in expected) await WaitForFileAsync(b, relative, sha256);
        Assert.Equal(FilesUnder(a), FilesUnder(b));

        // B recorded every file exactly as it wrote it: its own full scan finds nothing, and no change of B's (a file
        // taken for deleted, or for edited, while others arrived) ever reached A.
        var scan = await (await b.Api.PostAsync("api/folder/scan", null)).Content.ReadFromJsonAsync(ApiJson.Default.ScanDto);
        Assert.Equal(0, scan!.Changes);
        await Eventually.TrueAsync(async () => (await FolderAsync(a)).State == "idle" && (await FolderAsync(b)).State == "idle", "both folders to be idle", SyncTimeout);
        Assert.DoesNotContain((await FolderAsync(a)).Events, e => e.Device == b.Node.DeviceId.ToString());
        var added = (await FolderAsync(b)).Events.Where(e => e.Kind == "added" && expected.ContainsKey(e.Path)).Select(e => e.Path);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), added.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Concurrent_edits_keep_both_versions_on_every_node()
    {
        var (a, b, c) = await StartTrioAsync();
        await using var _ = a;
        await using var ___ = c;
        var original = Write(a, "plan.txt", "v1");
        await WaitForFileAsync(b, "plan.txt", original);
        await WaitForFileAsync(c, "plan.txt", original);

        // B edits while it is offline, A edits meanwhile: neither knew of the other's change.
        await b.StopAsync();
        var fromA = Write(a, "plan.txt", "v2 from a");
        await WaitForFileAsync(c, "plan.txt", fromA);
        var fromB = Write(b, "plan.txt", "v2 from b, a longer edit");
        await using var b2 = await b.StartAgainAsync();
        await using var __ = b;

        foreach (var node in new[] { a, b2, c })
        {
            await Eventually.TrueAsync(
                () =>
                {
                    var contents = FilesUnder(node).Where(f => f.StartsWith("plan", StringComparison.Ordinal)).Select(f => Safe(() => TestFiles.Sha256(node.InFolder(f)))).ToList();
                    return contents.Count == 2 && contents.Contains(fromA) && contents.Contains(fromB);
                },
                $"{node.Node.Name} to hold both edits of plan.txt",
                SyncTimeout);
        }

        var conflictCopy = FilesUnder(a).Single(f => f != "plan.txt" && f.StartsWith("plan", StringComparison.Ordinal));
        Assert.Matches(@"^plan\.conflict-\d{8}-\d{6}-[A-Z2-7]{7}\.txt$", conflictCopy);
        Assert.Equal(FilesUnder(a), FilesUnder(b2));
        Assert.Equal(FilesUnder(a), FilesUnder(c));
        Assert.Equal(1, (await FolderAsync(a)).Conflicts);
    }

    [Fact]
    public async Task A_node_that_was_offline_catches_up_and_a_restart_does_not_fetch_again()
    {
        var (a, b, c) = await StartTrioAsync();
        await using var _ = a;
        await using var __ = b;
        var keep = Write(a, "keep.txt", "stays");
        var doomed = Write(a, "doomed.txt", "goes");
        await WaitForFileAsync(c, "keep.txt", keep);
        await WaitForFileAsync(c, "doomed.txt", doomed);

        await c.StopAsync();
        var changed = Write(a, "keep.txt", "changed while c was away");
        File.Delete(a.InFolder("doomed.txt"));
        var added = TestFiles.Sha256(TestFiles.Create(a.InFolder("new/data.bin"), 3 * 1024 * 1024, seed: 9));
        await WaitForFileAsync(b, "new/data.bin", added);

        await using var c2 = await c.StartAgainAsync();
        await using var ___ = c;
        await WaitForFileAsync(c2, "keep.txt", changed);
        await WaitForFileAsync(c2, "new/data.bin", added);
        await WaitForGoneAsync(c2, "doomed.txt");

        // Everything is in place: starting again finds nothing to fetch.
        await c2.StopAsync();
        await using var c3 = await c2.StartAgainAsync();
        await using var ____ = c2;
        await c3.WaitForPeerAsync(a);
        await Eventually.TrueAsync(async () => (await FolderAsync(c3)).State == "idle", "C to be in sync after its restart", SyncTimeout);
        Assert.Equal(0, c3.Node.DownloadedBytes);
        Assert.Equal(FilesUnder(a), FilesUnder(c3));
    }

    [Fact]
    public async Task Ignored_files_stay_local_and_the_ignore_file_itself_syncs()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        await using var b = await TestNode.StartJoiningAsync("b", a);
        Write(a, ".shoalignore", "*.log\nbuild/\n");
        Write(a, "app.log", "noise");
        Write(a, "build/out.o", "object");
        var source = Write(a, "src/main.c", "int main() {}");
        await WaitForFileAsync(b, "src/main.c", source);
        await WaitForFileAsync(b, ".shoalignore", TestFiles.Sha256(a.InFolder(".shoalignore")));

        // B now ignores the same files: its own log stays on B.
        Write(b, "b.log", "b's noise");
        var marker = Write(b, "marker.txt", "after the log");
        await WaitForFileAsync(a, "marker.txt", marker);
        Assert.False(File.Exists(b.InFolder("app.log")));
        Assert.False(Directory.Exists(b.InFolder("build")));
        Assert.False(File.Exists(a.InFolder("b.log")));
    }

    [Fact]
    public async Task Records_with_hostile_paths_are_refused_and_nothing_outside_the_folder_is_touched()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        var outside = a.Directory.Combine("outside");
        Directory.CreateDirectory(outside);
        Directory.CreateSymbolicLink(a.InFolder("link"), outside);
        var payload = TestFiles.Create(a.Directory.Combine("payload.bin"), 1000, seed: 3);
        var manifest = await FileIndexer.IndexFileAsync(payload, null, CancellationToken.None);
        await using var hostile = await ScriptedPeer.ConnectAsync(a, a.Node.Membership, "hostile", payload, manifest);
        var version = VersionVector.Empty.Increment(VersionVector.KeyOf(hostile.Identity.DeviceId));
        FileRecord Record(string path, long sequence) =>
            new(path, EntryKind.File, false, manifest.Size, 1_700_000_000_000_000_000, 0x1A4, hostile.Identity.DeviceId, version, sequence, manifest.Id, manifest);

        hostile.Connection.Send(new IndexUpdate("default", 42, Reset: true, [
            Record("../escaped.txt", 1),
            Record("/tmp/absolute.txt", 2),
            Record("a/../../up.txt", 3),
            Record("NUL", 4),
            Record("link/pwned.txt", 5),
            Record("fine.txt", 6),
        ]));

        await WaitForFileAsync(a, "fine.txt", TestFiles.Sha256(payload));
        var events = await Eventually.ValueAsync(
            async () => (await FolderAsync(a)).Events.Where(e => e.Kind == "refused").ToList() is { Count: 5 } refused ? refused : null,
            "five refusals in A's events",
            SyncTimeout);
        Assert.Contains(events, e => e.Path == "link/pwned.txt");
        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
        Assert.False(File.Exists(a.Directory.Combine("escaped.txt")));
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(a.Folder)!, "escaped.txt")));
        Assert.False(File.Exists("/tmp/absolute.txt"));
        Assert.True(a.Node.Connections.Get(hostile.Identity.DeviceId) is { IsOpen: true }, "a refused record is not a protocol violation");
    }

    [Fact]
    public async Task A_local_edit_made_while_an_update_arrives_survives()
    {
        await using var a = await TestNode.StartFoundingAsync("a", uploadLimit: 4 * 1024 * 1024);
        await using var b = await TestNode.StartJoiningAsync("b", a);
        var original = Write(a, "doc.bin", "original");
        await WaitForFileAsync(b, "doc.bin", original);

        // A replaces the file with a big one that takes B a few seconds to fetch; B's user edits meanwhile.
        var before = b.Node.DownloadedBytes;
        var fromA = TestFiles.Sha256(TestFiles.Create(a.InFolder("doc.bin"), 16 * 1024 * 1024, seed: 11));
        await Eventually.TrueAsync(() => b.Node.DownloadedBytes > before + (1024 * 1024), "B to start fetching A's new version", SyncTimeout);
        var fromB = Write(b, "doc.bin", "edited on b while a's version was arriving");

        foreach (var node in new[] { b, a })
        {
            await Eventually.TrueAsync(
                () =>
                {
                    var contents = FilesUnder(node).Where(f => f.StartsWith("doc", StringComparison.Ordinal)).Select(f => Safe(() => TestFiles.Sha256(node.InFolder(f)))).ToList();
                    return contents.Contains(fromA) && contents.Contains(fromB);
                },
                $"{node.Node.Name} to hold both A's and B's doc.bin: " + string.Join(", ", FilesUnder(node)) + " " + System.Text.Json.JsonSerializer.Serialize(await FolderAsync(node), ApiJson.Default.FolderDto),
                SyncTimeout);
        }
    }

    [Fact]
    public async Task A_full_scan_clears_temp_files_left_for_a_day_and_keeps_recent_ones()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        var stale = a.InFolder(".shoal-tmp.ABCDEFGH.old.txt");
        var recent = a.InFolder(".shoal-tmp.IJKLMNOP.new.txt");
        await File.WriteAllTextAsync(stale, "left by a pull that never finished");
        await File.WriteAllTextAsync(recent, "a pull under way");
        File.SetLastWriteTimeUtc(stale, DateTime.UtcNow.AddDays(-2));

        (await a.Api.PostAsync("api/folder/scan", null)).EnsureSuccessStatusCode();

        Assert.False(File.Exists(stale));
        Assert.True(File.Exists(recent));
        Assert.Equal(0, (await FolderAsync(a)).Files);
    }

    [Fact]
    public async Task A_pull_overtaken_by_a_newer_version_leaves_no_temp_file_behind()
    {
        await using var a = await TestNode.StartFoundingAsync("a", uploadLimit: 4 * 1024 * 1024);
        await using var b = await TestNode.StartJoiningAsync("b", a);
        var before = b.Node.DownloadedBytes;
        TestFiles.Create(a.InFolder("big.bin"), 16 * 1024 * 1024, seed: 21);
        await Eventually.TrueAsync(() => b.Node.DownloadedBytes > before + (1024 * 1024), "B to start fetching the first version", SyncTimeout);

        var second = Write(a, "big.bin", "a small second version");
        await WaitForFileAsync(b, "big.bin", second);

        Assert.Equal(["big.bin"], FilesUnder(b));
    }

    [Fact]
    public async Task A_folder_whose_disk_is_gone_waits_for_the_retry_instead_of_spinning()
    {
        var a = await TestNode.StartFoundingAsync("a");
        await using var _ = a;
        var log = new LogCapture();
        var b = await TestNode.StartAsync(
            "b", NodeSetup.CreateInvite(a.Node.Home, [a.Address]), [a.Address],
            configure: o => o with { LoggerFactory = log, FolderOptions = o.FolderOptions with { RetryInterval = TimeSpan.FromHours(1), RescanInterval = TimeSpan.FromHours(1) } });
        await using var __ = b;
        await b.WaitForPeerAsync(a);
        var first = Write(a, "doc.txt", "v1");
        await WaitForFileAsync(b, "doc.txt", first);

        // B's folder disappears (an unmounted disk), then A changes the file: B finds its copy missing, cannot
        // rescan, and must not go round deciding, rescanning and failing again without pause.
        Directory.Delete(b.Folder, recursive: true);
        Write(a, "doc.txt", "v2");
        static int Failures(LogCapture log) => log.Lines.Count(l => l.Contains("failed", StringComparison.Ordinal) && l.Contains("Scanning", StringComparison.Ordinal));
        await Eventually.TrueAsync(() => Failures(log) > 0, "B to fail to scan its missing folder", SyncTimeout);
        await Eventually.TrueAsync(async () => (await FolderAsync(b)).NeedFiles > 0, "B to hold the change as waiting", SyncTimeout);

        // With no retry due for an hour, nothing more may happen: watched for a second, in which a loop would log
        // thousands of failures.
        var settled = Failures(log);
        for (var i = 0; i < 20; i++)
        {
            await Task.Delay(50);
            Assert.True(Failures(log) <= settled + 2, $"B kept scanning its missing folder: {Failures(log)} failures");
        }
    }
}
