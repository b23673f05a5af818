using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Core;
using Shoal.Integration.Tests.Support;
using Shoal.Net;
using Shoal.Net.Tracking;
using Shoal.Node;
using Shoal.Node.Home;
using Shoal.Node.Tracking;
using Shoal.Tracker;

namespace Shoal.Integration.Tests;

/// <summary>
/// Nodes that know no address of each other (no --peer, no discovery, invites without addresses) meet through a real
/// tracker on loopback: real HTTP, signed requests, SQLite.
/// </summary>
public sealed class TrackerTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task Nodes_find_each_other_through_the_tracker_and_a_downloader_becomes_a_holder()
    {
        using var directory = new TempDirectory("shoal-tracker");
        await using var tracker = await StartTrackerAsync(directory.Combine("tracker.db"));
        await using var a = await StartNodeAsync("a", inviter: null, tracker);
        await using var b = await StartNodeAsync("b", a, tracker);
        var path = TestFiles.Create(a.Directory.Combine("movie.bin"), 6L << 20, seed: 7);
        var shared = await a.ShareAsync(path);

        // b learns of the file from the tracker's list, and of a's address from the tracker alone.
        await Eventually.TrueAsync(async () => (await b.FilesAsync()).Any(f => f.Id == shared.Id), "b to list a's file");
        var downloaded = await b.DownloadAsync(shared.Link);
        Assert.Equal(TestFiles.Sha256(path), TestFiles.Sha256(downloaded.Path!));

        // A third node that never met b can now fetch from b alone.
        await using var c = await StartNodeAsync("c", a, tracker);
        await using var asker = Asker(a, tracker);
        var id = FileId.Parse(shared.Id);
        await Eventually.TrueAsync(
            async () => (await asker.HoldersAsync(id, CancellationToken.None)).Holders.Any(h => h.Device == b.Node.DeviceId.Value.ToHex() && h.Chunks is null),
            "the tracker to list b as a holder of every chunk");
        await a.StopAsync();
        var again = await c.DownloadAsync(shared.Link);
        Assert.Equal(TestFiles.Sha256(path), TestFiles.Sha256(again.Path!));
    }

    [Fact]
    public async Task A_tracker_that_lost_its_data_gets_everything_back_from_the_nodes()
    {
        using var directory = new TempDirectory("shoal-tracker");
        var tracker = await StartTrackerAsync(directory.Combine("first.db"));
        await using var a = await StartNodeAsync("a", inviter: null, tracker);
        var shared = await a.ShareAsync(TestFiles.Create(a.Directory.Combine("notes.txt"), 100_000, seed: 3));
        await using var asker = Asker(a, tracker);
        await Eventually.TrueAsync(async () => (await asker.SearchAsync("NOTES", 10, CancellationToken.None)).Any(f => f.Id == shared.Id), "the tracker to list the file");

        // Same address, empty database: the nodes are told to register again and say everything they hold.
        var port = tracker.Url.Port;
        await tracker.DisposeAsync();
        await using var restarted = await StartTrackerAsync(directory.Combine("second.db"), port);

        await Eventually.TrueAsync(async () => (await asker.SearchAsync("notes", 10, CancellationToken.None)).Any(f => f.Id == shared.Id && f.Holders == 1), "the restarted tracker to list the file again");
    }

    [Fact]
    public async Task A_node_says_when_its_tracker_is_unreachable_and_carries_on()
    {
        await using var a = await TestNode.StartAsync("a", joinCode: null, peers: [], configure: o => o with { Trackers = ["http://127.0.0.1:9"] });

        await Eventually.TrueAsync(() => a.Node.Trackers.States is [{ Online: false, LastError: not null }], "the tracker to be reported unreachable");
        var shared = await a.ShareAsync(TestFiles.Create(a.Directory.Combine("x.bin"), 1000, seed: 1));
        Assert.Contains(await a.FilesAsync(), f => f.Id == shared.Id);
    }

    private static Task<TrackerHost> StartTrackerAsync(string database, int port = 0) =>
        TrackerHost.StartAsync(new TrackerOptions { Listen = $"127.0.0.1:{port}", Database = database, Interval = Interval }, CancellationToken.None);

    private static Task<TestNode> StartNodeAsync(string name, TestNode? inviter, TrackerHost tracker) =>
        TestNode.StartAsync(
            name,
            inviter is null ? null : NodeSetup.CreateInvite(inviter.Node.Home, []),
            peers: [],
            configure: o => o with { Trackers = [tracker.Url.ToString()] });

    /// <summary>A client signing as <paramref name="member"/>, to ask the tracker what it knows.</summary>
    private static TrackerClient Asker(TestNode member, TrackerHost tracker)
    {
        var identity = NodeIdentity.LoadOrCreate(member.Node.Home.Root);
        var key = NetworkTrackerKey.Derive(member.Node.Membership);
        var signer = new TrackerRequestSigner(identity.Certificate, key, TimeProvider.System);
        return new TrackerClient(tracker.Url, signer, new TrackerEnvironment(() => ("asker", 1, []), () => [], _ => { }), TimeProvider.System, NullLogger.Instance);
    }
}
