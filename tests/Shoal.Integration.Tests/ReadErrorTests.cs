using System.Net;
using System.Net.Http.Json;
using Shoal.Integration.Tests.Support;
using Shoal.Node.Api;
using Shoal.Node.Home;

namespace Shoal.Integration.Tests;

/// <summary>
/// A shared or synced file whose disk fails reads with a true EIO (<see cref="BrokenDisk"/>): that file is skipped and
/// reported, every other file is shared, served and synced as usual, and the links stay up.
/// </summary>
public sealed class ReadErrorTests
{
    [MountFact]
    public async Task A_file_that_cannot_be_read_is_skipped_by_share_and_refused_by_serve_while_the_others_go_on()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        var shared = a.Directory.Combine("shared");
        var good = TestFiles.Create(Path.Combine(shared, "good.bin"), 3L << 20, seed: 1);
        await using var disk = await BrokenDisk.CreateAsync(Path.Combine(shared, "broken"), path => TestFiles.Create(Path.Combine(path, "bad.bin"), 3L << 20, seed: 2));
        await using var b = await TestNode.StartJoiningAsync("b", a);
        await b.WaitForPeerAsync(a);

        var response = await a.Api.PostAsJsonAsync("api/share", new ShareRequest([shared]), ApiJson.Default.ShareRequest);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var result = (await response.Content.ReadFromJsonAsync(ApiJson.Default.ShareErrorDto))!;
        var skipped = Assert.Single(result.Skipped);
        Assert.Equal(Path.Combine(shared, "broken", "bad.bin"), skipped.Path);
        Assert.Contains("Input/output error", skipped.Error, StringComparison.Ordinal);
        Assert.Contains("could not read 1 of 2 files", result.Error, StringComparison.Ordinal);
        var goodLink = Assert.Single(result.Shared).Link;
        var downloaded = await b.DownloadAsync(goodLink);
        Assert.Equal(TestFiles.Sha256(good), TestFiles.Sha256(downloaded.Path!));
    }

    [MountFact]
    public async Task A_shared_file_whose_disk_fails_is_refused_to_peers_and_the_others_are_still_served()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        var good = TestFiles.Create(a.Directory.Combine("good.bin"), 3L << 20, seed: 3);
        var goodLink = (await a.ShareAsync(good)).Link;
        var badLink = "";

        // Shared while its disk still worked, as a file whose disk fails later would have been.
        await using var disk = await BrokenDisk.CreateAsync(
            a.Directory.Combine("broken"), async path => badLink = (await a.ShareAsync(TestFiles.Create(Path.Combine(path, "bad.bin"), 3L << 20, seed: 4))).Link);
        await using var b = await TestNode.StartJoiningAsync("b", a);
        await b.WaitForPeerAsync(a);

        var bad = await b.StartDownloadAsync(badLink);
        await Eventually.TrueAsync(
            async () => (await b.TransferAsync(bad.Id)).Error?.Contains("a: the file could not be read at its source", StringComparison.Ordinal) == true,
            "b to hear that a cannot read the file");
        var downloaded = await b.DownloadAsync(goodLink);

        Assert.Equal(TestFiles.Sha256(good), TestFiles.Sha256(downloaded.Path!));
        Assert.NotEqual("completed", (await b.TransferAsync(bad.Id)).State);
        Assert.True(b.Node.Connections.Get(a.Node.DeviceId) is { IsOpen: true }, "the link outlives the read errors");
    }

    [MountFact]
    public async Task A_folder_file_that_cannot_be_read_is_reported_and_the_rest_of_the_folder_syncs()
    {
        using var folder = new TempDirectory("shoal-folder");
        var notes = TestFiles.Sha256(TestFiles.Create(folder.Combine("notes.txt"), 20_000, seed: 4));
        await using var disk = await BrokenDisk.CreateAsync(folder.Combine("broken"), path => TestFiles.Create(Path.Combine(path, "bad.bin"), 2L << 20, seed: 5));
        await using var a = await TestNode.StartAsync("a", null, [], configure: o => o with { Folder = folder.Path });
        await using var b = await TestNode.StartAsync("b", NodeSetup.CreateInvite(a.Node.Home, [a.Address]), [a.Address]);

        await FolderSyncTests.WaitForFileAsync(b, "notes.txt", notes);
        var status = await Eventually.ValueAsync(
            async () => await FolderSyncTests.FolderAsync(a) is { Problem: { } problem } f && problem.Contains("broken/bad.bin", StringComparison.Ordinal) ? f : null,
            "a's folder to report the unreadable file");

        Assert.Contains("1 file could not be read and is not synced: broken/bad.bin: could not be read: Input/output error", status.Problem, StringComparison.Ordinal);
        await Eventually.TrueAsync(() => Directory.Exists(b.InFolder("broken")), "the directory itself to sync");
        Assert.False(File.Exists(b.InFolder("broken/bad.bin")));
        Assert.True(b.Node.Connections.Get(a.Node.DeviceId) is { IsOpen: true });
    }
}
