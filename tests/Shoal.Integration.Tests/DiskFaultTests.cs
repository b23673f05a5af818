using Microsoft.Data.Sqlite;
using Shoal.Core;
using Shoal.Integration.Tests.Support;
using Shoal.Node;
using Shoal.Node.Home;
using Shoal.Node.Replication;
using Shoal.Storage;

namespace Shoal.Integration.Tests;

/// <summary>
/// A disk that fills up under a download, a sync and a put (a small tmpfs mounted by the test, filled by a file the test
/// deletes again): the node says which disk is full and how much it needs, keeps what it verified, corrupts nothing, and
/// finishes on its own once there is room.
/// </summary>
public sealed class DiskFaultTests
{
    private const long FileSize = 24L << 20;

    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(2);

    [MountFact]
    public async Task A_download_into_a_full_disk_keeps_its_verified_chunks_and_finishes_when_space_is_freed()
    {
        await using var disk = await Tmpfs.MountAsync(32L << 20);
        await using var a = await TestNode.StartFoundingAsync("a");
        await using var b = await TestNode.StartJoiningAsync("b", a);
        var source = TestFiles.Create(a.Directory.Combine("big.bin"), FileSize, seed: 1);
        var shared = await a.ShareAsync(source);
        await b.WaitForHoldersAsync(FileId.Parse(shared.Id), 1);
        disk.Fill(leaveBytes: 8L << 20);

        // The partial file is in b's home, on another disk; the copy into the full one is what fails.
        var started = await b.StartDownloadAsync(shared.Link, disk.Path);
        var full = await Eventually.ValueAsync(
            async () => await b.TransferAsync(started.Id) is { State: "diskfull" } t ? t : null, "the download to say the disk is full", Generous);

        Assert.Contains($"the disk holding {disk.Path} is full (24.0 MiB needed", full.Error, StringComparison.Ordinal);
        Assert.Equal(FileSize, full.VerifiedBytes);
        Assert.Equal(new[] { "filler" }, Directory.EnumerateFileSystemEntries(disk.Path).Select(p => Path.GetFileName(p)).ToArray());
        AssertCatalogIntact(b, FileId.Parse(shared.Id), full.TotalChunks);

        disk.Free();
        var done = await Eventually.ValueAsync(
            async () => await b.TransferAsync(started.Id) is { State: "completed" } t ? t : null, "the download to finish once there is room", Generous);
        Assert.Equal(Path.Combine(disk.Path, "big.bin"), done.Path);
        Assert.Equal(TestFiles.Sha256(source), TestFiles.Sha256(done.Path!));
        Assert.Null(done.Error);
    }

    [MountFact]
    public async Task A_node_whose_home_and_database_are_on_a_full_disk_fails_cleanly_and_resumes()
    {
        await using var disk = await Tmpfs.MountAsync(64L << 20);
        await using var a = await TestNode.StartFoundingAsync("a");
        await using var b = await TestNode.StartAsync("b", NodeSetup.CreateInvite(a.Node.Home, [a.Address]), [a.Address], parent: disk.Path);
        await b.WaitForPeerAsync(a);
        var source = TestFiles.Create(a.Directory.Combine("big.bin"), FileSize, seed: 2);
        var shared = await a.ShareAsync(source);
        await b.WaitForHoldersAsync(FileId.Parse(shared.Id), 1);
        Directory.CreateDirectory(b.Downloads);
        disk.Fill();

        // Whichever write meets the full disk first (the catalog's or the partial file's preallocation), it is said.
        var started = await b.StartDownloadAsync(shared.Link);
        var full = await Eventually.ValueAsync(
            async () => await b.TransferAsync(started.Id) is { State: "diskfull" } t ? t : null, "the download to say the disk is full", Generous);
        Assert.Contains($"the disk holding {disk.Path}/", full.Error, StringComparison.Ordinal);
        Assert.Contains("is full (", full.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(b.Downloads, "big.bin")));
        AssertCatalogIntact(b, FileId.Parse(shared.Id), verifiedChunks: null);
        Assert.True(b.Node.Connections.Get(a.Node.DeviceId) is { IsOpen: true }, "the link to a survives the full disk");

        disk.Free();
        var done = await b.DownloadAsync(shared.Link, Generous);
        Assert.Equal(TestFiles.Sha256(source), TestFiles.Sha256(done.Path!));
        AssertCatalogIntact(b, FileId.Parse(shared.Id), verifiedChunks: null);
    }

    [MountFact]
    public async Task A_folder_on_a_full_disk_says_which_file_does_not_fit_and_converges_when_space_is_freed()
    {
        await using var disk = await Tmpfs.MountAsync(16L << 20);
        await using var a = await TestNode.StartFoundingAsync("a");
        await using var b = await TestNode.StartAsync(
            "b", NodeSetup.CreateInvite(a.Node.Home, [a.Address]), [a.Address], configure: o => o with { Folder = Path.Combine(disk.Path, "folder") });
        await b.WaitForPeerAsync(a);
        disk.Fill(leaveBytes: 2L << 20);

        var big = TestFiles.Sha256(TestFiles.Create(a.InFolder("video.bin"), 8L << 20, seed: 3));

        var folder = await Eventually.ValueAsync(
            async () => await FolderSyncTests.FolderAsync(b) is { Problem: { } problem } f && problem.Contains("is full", StringComparison.Ordinal) ? f : null,
            "b's folder to say its disk is full",
            Generous);
        Assert.Contains($"video.bin: the disk holding {b.Folder} is full (8.0 MiB needed", folder.Problem, StringComparison.Ordinal);
        Assert.False(File.Exists(b.InFolder("video.bin")), "no partial file under the final name");

        disk.Free();
        await FolderSyncTests.WaitForFileAsync(b, "video.bin", big);
        await Eventually.TrueAsync(async () => (await FolderSyncTests.FolderAsync(b)).Problem is null, "b's folder problem to clear", Generous);
        Assert.DoesNotContain(Directory.EnumerateFiles(b.Folder), f => Path.GetFileName(f).StartsWith(".shoal-tmp", StringComparison.Ordinal));
    }

    [MountFact]
    public async Task A_put_to_a_node_whose_store_disk_is_full_names_it_and_reaches_its_copies_when_space_is_freed()
    {
        var quickRepair = new PutOptions { RepairInterval = TimeSpan.FromMilliseconds(200) };
        await using var a = await TestNode.StartAsync("a", null, [], configure: o => o with { PutOptions = quickRepair });
        await using var b = await TestNode.StartAsync(
            "b", NodeSetup.CreateInvite(a.Node.Home, [a.Address]), [a.Address], configure: o => o with { PutOptions = quickRepair });
        await b.WaitForPeerAsync(a);
        await Eventually.TrueAsync(() => a.Node.Put.KnownStores == 1, "a to know b's store");

        // Mounted over b's (empty) store while b runs: its quota says 1 GiB free, its disk has none.
        await using var disk = await Tmpfs.MountAsync(16L << 20, at: b.Node.Home.StoreDirectory);
        disk.Fill();
        var source = TestFiles.Create(a.Directory.Combine("backup.bin"), 8L << 20, seed: 5);

        var put = await a.PutAsync(source, replicas: 2);

        Assert.Equal((1, 2), (put.Copies, put.Replicas));
        Assert.Equal(new[] { "b" }, put.NoRoom);
        Assert.DoesNotContain(Directory.EnumerateFiles(disk.Path, "*", SearchOption.AllDirectories), f => Path.GetFileName(f) != "filler");
        await Eventually.TrueAsync(() => a.Node.Put.FewestStoredCopies(FileId.Parse(put.Id)) == 1, "a to count one copy");

        disk.Free();
        await Eventually.TrueAsync(() => a.Node.Put.FewestStoredCopies(FileId.Parse(put.Id)) == 2, "repair to make the second copy once b has room", Generous);
        var manifest = a.Node.Put.Manifest(FileId.Parse(put.Id))!;
        Assert.All(Enumerable.Range(0, manifest.ChunkCount), i => Assert.True(b.Node.Put.Store.Has(manifest[i].Hash)));
        AssertCatalogIntact(b, FileId.Parse(put.Id), verifiedChunks: null);
    }

    /// <summary>SQLite's own check of every page, and (for a download) the chunks it records as verified.</summary>
    private static void AssertCatalogIntact(TestNode node, FileId file, int? verifiedChunks)
    {
        using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = node.Node.Home.DatabasePath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString()))
        {
            connection.Open();
            using var check = connection.CreateCommand();
            check.CommandText = "PRAGMA integrity_check";
            Assert.Equal("ok", check.ExecuteScalar());
        }

        if (verifiedChunks is not { } expected) return;
        using var catalog = Catalog.Open(node.Node.Home.DatabasePath);
        Assert.Equal(expected, catalog.LoadVerifiedChunks(file, expected).SetCount);
    }
}
