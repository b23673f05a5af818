using Shoal.Core;
using Shoal.Integration.Tests.Support;
using Shoal.Node.Api;

namespace Shoal.Integration.Tests;

public sealed class ShareAndGetTests
{
    [Fact]
    public async Task Two_nodes_each_download_what_the_other_shares()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        await using var b = await TestNode.StartJoiningAsync("b", a);
        var x = TestFiles.Create(a.Directory.Combine("src", "x.bin"), 9 * 1024 * 1024 + 123, seed: 1);
        var y = TestFiles.Create(a.Directory.Combine("src", "y.txt"), 1000, seed: 2);
        var z = TestFiles.Create(b.Directory.Combine("src", "z.bin"), 3 * 1024 * 1024, seed: 3);
        var empty = TestFiles.Create(a.Directory.Combine("src", "empty"), 0, seed: 4);
        var linkX = (await a.ShareAsync(x)).Link;
        var linkY = (await a.ShareAsync(y)).Link;
        var linkEmpty = (await a.ShareAsync(empty)).Link;
        var linkZ = (await b.ShareAsync(z)).Link;

        var gotX = await b.DownloadAsync(linkX);
        var gotY = await b.DownloadAsync(linkY);
        var gotEmpty = await b.DownloadAsync(linkEmpty);
        var gotZ = await a.DownloadAsync(linkZ);

        Assert.Equal(TestFiles.Sha256(x), TestFiles.Sha256(gotX.Path!));
        Assert.Equal(TestFiles.Sha256(y), TestFiles.Sha256(gotY.Path!));
        Assert.Equal(0, new FileInfo(gotEmpty.Path!).Length);
        Assert.Equal(TestFiles.Sha256(z), TestFiles.Sha256(gotZ.Path!));
        Assert.Equal(Path.Combine(b.Downloads, "x.bin"), gotX.Path);
        Assert.Empty(Directory.GetFiles(b.Node.Home.PartialDirectory));

        // The downloader is now a source too: A sees B holding X as well.
        var files = await a.FilesAsync();
        Assert.Equal(2, files.Single(f => f.Name == "x.bin").Replicas);
        Assert.Equal("complete", files.Single(f => f.Name == "z.bin").Local);
    }

    [Fact]
    public async Task A_partial_downloader_already_serves_the_chunks_it_has()
    {
        await using var a = await TestNode.StartFoundingAsync("seed", uploadLimit: 8 * 1024 * 1024);
        await using var b = await TestNode.StartJoiningAsync("middle", a);
        var path = TestFiles.Create(a.Directory.Combine("src", "video.bin"), 32 * 1024 * 1024, seed: 15);
        var shared = await a.ShareAsync(path);
        var id = FileId.Parse(shared.Id);
        await b.WaitForHoldersAsync(id, 1);
        var bTransfer = await b.StartDownloadAsync(shared.Link);

        // C knows only B, so every byte it gets comes from B's partial file.
        await using var c = await TestNode.StartJoiningAsync("late", b);
        await c.WaitForHoldersAsync(id, 1);
        var cTransfer = await c.StartDownloadAsync(shared.Link);
        await Eventually.TrueAsync(
            async () => (await c.TransferAsync(cTransfer.Id)).VerifiedBytes > 0 && (await b.TransferAsync(bTransfer.Id)).State != "completed",
            "C to receive chunks from B while B is still downloading");

        var done = await Eventually.ValueAsync(async () => await c.TransferAsync(cTransfer.Id) is { State: "completed" } t ? t : null, "C's download to finish");
        Assert.Equal(TestFiles.Sha256(path), TestFiles.Sha256(done.Path!));
        Assert.Null(c.Node.Connections.Get(a.Node.DeviceId));
    }

    [Fact]
    public async Task A_source_that_disappears_mid_transfer_is_replaced_by_the_others()
    {
        await using var a = await TestNode.StartFoundingAsync("a", uploadLimit: 8 * 1024 * 1024);
        var b = await TestNode.StartJoiningAsync("b", a);
        await using var c = await TestNode.StartJoiningAsync("c", a, downloadLimit: 16 * 1024 * 1024);
        var path = TestFiles.Create(a.Directory.Combine("src", "data.bin"), 32 * 1024 * 1024, seed: 17);
        var shared = await a.ShareAsync(path);
        var id = FileId.Parse(shared.Id);
        await b.DownloadAsync(shared.Link);
        await c.Node.Connections.DialAsync(b.Address, CancellationToken.None);
        await c.WaitForHoldersAsync(id, 2);
        var transfer = await c.StartDownloadAsync(shared.Link);
        await Eventually.TrueAsync(async () => (await c.TransferAsync(transfer.Id)).VerifiedBytes > 0, "C's download to start");

        await b.DisposeAsync();

        var done = await Eventually.ValueAsync(async () => await c.TransferAsync(transfer.Id) is { State: "completed" } t ? t : null, "C to finish from A alone");
        Assert.Equal(TestFiles.Sha256(path), TestFiles.Sha256(done.Path!));
    }

    [Fact]
    public async Task Rm_withdraws_a_file_from_every_peer()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        await using var b = await TestNode.StartJoiningAsync("b", a);
        var shared = await a.ShareAsync(TestFiles.Create(a.Directory.Combine("src", "old.bin"), 1024 * 1024, seed: 16));
        var id = FileId.Parse(shared.Id);
        await b.WaitForHoldersAsync(id, 1);

        var response = await a.Api.DeleteAsync($"api/files/{shared.Id}");

        response.EnsureSuccessStatusCode();
        await Eventually.TrueAsync(() => b.Node.Availability.HoldersOf(id).Count == 0, "B to learn the file was withdrawn");
        Assert.DoesNotContain(await a.FilesAsync(), f => f.Id == shared.Id);
        Assert.True(File.Exists(a.Directory.Combine("src", "old.bin")), "rm must never delete the file itself");
    }

    [Fact]
    public async Task Getting_a_file_the_node_already_has_copies_it_locally_without_peers()
    {
        await using var a = await TestNode.StartFoundingAsync("alone");
        var path = TestFiles.Create(a.Directory.Combine("src", "mine.bin"), 5 * 1024 * 1024 + 11, seed: 18);
        var shared = await a.ShareAsync(path);

        var got = await a.DownloadAsync(shared.Link);

        Assert.Empty(a.Node.Connections.Connections);
        Assert.Equal(Path.Combine(a.Downloads, "mine.bin"), got.Path);
        Assert.Equal(TestFiles.Sha256(path), TestFiles.Sha256(got.Path!));
        Assert.True(File.Exists(path));
    }

    [Fact]
    public async Task A_file_changed_after_sharing_is_never_served_as_the_old_content()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        await using var b = await TestNode.StartJoiningAsync("b", a);
        var path = TestFiles.Create(a.Directory.Combine("src", "doc.bin"), 4 * 1024 * 1024, seed: 5);
        var shared = await a.ShareAsync(path);
        await b.WaitForHoldersAsync(FileId.Parse(shared.Id), 1);

        TestFiles.Create(path, 5 * 1024 * 1024, seed: 6);
        var transfer = await b.StartDownloadAsync(shared.Link);

        TransferDto? last = null;
        var stalled = await Eventually.ValueAsync(
            async () => (last = await b.TransferAsync(transfer.Id)) is { Error: not null } t && t.Error.Contains("changed", StringComparison.Ordinal) ? t : null,
            "B to report that the file changed at its source",
            describe: () => $"last state: {last}");
        Assert.NotEqual("completed", stalled.State);
        Assert.False(File.Exists(Path.Combine(b.Downloads, "doc.bin")));

        // A re-indexes the new content and offers it under a new id, which downloads correctly.
        var newId = await Eventually.ValueAsync(
            async () => (await b.FilesAsync()).FirstOrDefault(f => f.Name == "doc.bin" && f.Id != shared.Id && f.Replicas > 0)?.Id,
            "the new version to be offered");
        var got = await b.DownloadAsync(new ShoalLink(FileId.Parse(newId), "doc.bin").ToString());
        Assert.Equal(TestFiles.Sha256(path), TestFiles.Sha256(got.Path!));
    }

    [Fact]
    public async Task A_peer_sending_corrupt_chunks_is_banned_and_the_download_finishes_from_honest_peers()
    {
        await using var a = await TestNode.StartFoundingAsync("honest", uploadLimit: 8 * 1024 * 1024);
        await using var c = await TestNode.StartJoiningAsync("downloader", a);
        var path = TestFiles.Create(a.Directory.Combine("src", "big.bin"), 24 * 1024 * 1024, seed: 8);
        var shared = await a.ShareAsync(path);
        var manifest = a.Node.Library.GetLocal(FileId.Parse(shared.Id))!.Manifest;
        await using var liar = await ScriptedPeer.ConnectAsync(c, a.Node.Membership, "liar", path, manifest, corrupt: true);
        await c.WaitForHoldersAsync(manifest.Id, 2);

        var got = await c.DownloadAsync(shared.Link);

        Assert.Equal(TestFiles.Sha256(path), TestFiles.Sha256(got.Path!));
        Assert.True(c.Node.Reputation.IsBanned(liar.Identity.DeviceId), $"liar served {liar.ChunksServed} chunks but was not banned");
        Assert.Contains("banned", await liar.Closed.WaitAsync(TimeSpan.FromSeconds(30)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rarest_chunks_are_taken_from_their_only_holder_first()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        await using var c = await TestNode.StartJoiningAsync("c", a, downloadLimit: 64 * 1024 * 1024);
        var path = TestFiles.Create(a.Directory.Combine("src", "file.bin"), 40 * 1024 * 1024, seed: 9);
        var shared = await a.ShareAsync(path);
        var manifest = a.Node.Library.GetLocal(FileId.Parse(shared.Id))!.Manifest;
        var half = new Bitfield(manifest.ChunkCount);
        for (var i = 0; i < manifest.ChunkCount; i += 2) half.Set(i);
        await using var b = await ScriptedPeer.ConnectAsync(c, a.Node.Membership, "b", path, manifest, have: half);
        await c.WaitForHoldersAsync(manifest.Id, 2);

        var got = await c.DownloadAsync(shared.Link);
        var trace = await c.TraceAsync(got.Id);

        Assert.Equal(TestFiles.Sha256(path), TestFiles.Sha256(got.Path!));
        var fromA = trace.Where(e => e.Peer == a.Node.DeviceId.ToString()).Select(e => e.Chunk).ToList();
        var fromB = trace.Where(e => e.Peer == b.Identity.DeviceId.ToString()).Select(e => e.Chunk).ToList();
        var aOnly = Enumerable.Range(0, manifest.ChunkCount).Where(i => !half[i]).ToHashSet();
        var firstSharedFromA = fromA.FindIndex(i => half[i]);
        var lastAOnlyFromA = fromA.FindLastIndex(aOnly.Contains);
        Assert.True(firstSharedFromA < 0 || lastAOnlyFromA < firstSharedFromA, $"A was asked for a shared chunk before all A-only chunks: {string.Join(",", fromA)}");
        Assert.All(fromB, i => Assert.True(half[i]));
        Assert.NotEmpty(fromB);
        Assert.True(b.ChunksServed > 0);
    }
}
