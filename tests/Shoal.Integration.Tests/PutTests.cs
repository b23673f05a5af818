using System.Net;
using System.Net.Http.Json;
using Shoal.Core;
using Shoal.Integration.Tests.Support;
using Shoal.Node;
using Shoal.Node.Api;
using Shoal.Node.Replication;

namespace Shoal.Integration.Tests;

/// <summary>put: real nodes in this process (TLS on loopback, SQLite, stores on disk), a short "down" timeout.</summary>
public sealed class PutTests
{
    private const long FileSize = 24L << 20;

    private static readonly TimeSpan DownAfter = TimeSpan.FromSeconds(2);

    private static readonly PutOptions QuickRepair = new() { RepairInterval = TimeSpan.FromMilliseconds(200) };

    [Fact]
    public async Task Every_chunk_goes_to_two_nodes_and_the_file_outlives_its_uploader()
    {
        await using var mesh = await Mesh.StartAsync(4);
        var path = TestFiles.Create(mesh[0].Directory.Combine("data.bin"), FileSize, seed: 1);

        var put = await mesh[0].PutAsync(path, replicas: 2);

        Assert.Equal((2, 2, 4), (put.Copies, put.Replicas, put.ReachableNodes));
        var manifest = mesh[0].Node.Put.Manifest(FileId.Parse(put.Id))!;
        Assert.True(manifest.ChunkCount >= 8, $"{manifest.ChunkCount} chunks");
        Assert.All(Enumerable.Range(0, manifest.ChunkCount), i => Assert.Equal(2, mesh.HoldersOf(manifest[i].Hash).Count));
        Assert.True(mesh.Nodes.Count(n => n!.Node.Put.Store.Count > 0) >= 3, "chunks spread over at least 3 nodes");

        await mesh.StopAsync(0);
        var downloaded = await mesh[1].DownloadAsync(put.Link);
        Assert.Equal(TestFiles.Sha256(path), TestFiles.Sha256(downloaded.Path!));
    }

    [Fact]
    public async Task A_dead_node_is_replaced_and_its_return_removes_the_surplus()
    {
        await using var mesh = await Mesh.StartAsync(4);
        var path = TestFiles.Create(mesh[0].Directory.Combine("data.bin"), FileSize, seed: 2);
        var put = await mesh[0].PutAsync(path, replicas: 2);
        var manifest = mesh[0].Node.Put.Manifest(FileId.Parse(put.Id))!;
        var victim = Enumerable.Range(1, 3).MaxBy(n => mesh[n].Node.Put.Store.Count);
        Assert.True(mesh[victim].Node.Put.Store.Count > 0);

        await mesh.StopAsync(victim);

        await Eventually.TrueAsync(
            () => Enumerable.Range(0, manifest.ChunkCount).All(i => mesh.HoldersOf(manifest[i].Hash).Count >= 2),
            "every chunk back to two live copies",
            TimeSpan.FromSeconds(30) + DownAfter);

        await mesh.RestartAsync(victim);
        await Eventually.TrueAsync(
            () => Enumerable.Range(0, manifest.ChunkCount).All(i => mesh.HoldersOf(manifest[i].Hash).Count == 2),
            "the surplus copies to be dropped once the node is back");
    }

    [Fact]
    public async Task A_node_without_room_is_skipped_and_never_overfilled()
    {
        await using var mesh = await Mesh.StartAsync(3, quotaOf: n => n == 1 ? 3L << 20 : 1L << 30);
        var path = TestFiles.Create(mesh[0].Directory.Combine("data.bin"), FileSize, seed: 3);

        var put = await mesh[0].PutAsync(path, replicas: 2);

        Assert.Equal(2, put.Copies);
        Assert.InRange(mesh[1].Node.Put.Store.UsedBytes, 0, 3L << 20);
    }

    [Fact]
    public async Task More_replicas_than_nodes_exits_4_with_the_counts_and_keeps_the_file()
    {
        await using var mesh = await Mesh.StartAsync(2);
        var path = TestFiles.Create(mesh[0].Directory.Combine("data.bin"), 4L << 20, seed: 4);

        var result = await ShoalCli.RunAsync("put", path, "--replicas", "3", "--home", mesh[0].Node.Home.Root);

        Assert.Equal(4, result.ExitCode);
        Assert.Contains("2 of 3 copies", result.Stderr);
        Assert.StartsWith("shoal:", result.Stdout.Trim());
        var file = Assert.Single(await mesh[1].FilesAsync());
        Assert.Equal(2, file.Replicas);

        // The replication health that shoal top shows: copies asked for against copies there are.
        await Eventually.TrueAsync(
            async () => (await mesh[0].Api.GetFromJsonAsync("api/put/files", ApiJson.Default.IReadOnlyListPutHealthDto))!
                is [{ Name: "data.bin", Replicas: 3, Copies: 2, Size: 4L << 20 }],
            "GET /api/put/files to say 2 of 3 copies");
    }

    [Fact]
    public async Task A_node_offline_during_rm_deletes_its_copies_when_it_returns()
    {
        await using var mesh = await Mesh.StartAsync(3);
        var path = TestFiles.Create(mesh[0].Directory.Combine("data.bin"), FileSize, seed: 5);
        var put = await mesh[0].PutAsync(path, replicas: 3);
        var id = FileId.Parse(put.Id);
        Assert.True(mesh[2].Node.Put.Store.Count > 0);
        await mesh.StopAsync(2);

        (await mesh[0].Api.DeleteAsync($"api/files/{put.Id}")).EnsureSuccessStatusCode();
        await Eventually.TrueAsync(() => mesh[1].Node.Put.Store.Count == 0, "the online node to delete its copies");

        await mesh.RestartAsync(2);
        await Eventually.TrueAsync(() => mesh[2].Node.Put.Store.Count == 0, "the returning node to learn of the rm");
        Assert.False(mesh[0].Node.Put.IsPut(id));
        Assert.DoesNotContain(await mesh[0].FilesAsync(), f => f.Id == put.Id);
    }

    [Fact]
    public async Task Two_nodes_lost_at_once_report_exactly_the_chunks_on_no_live_node()
    {
        await using var mesh = await Mesh.StartAsync(4);
        var path = TestFiles.Create(mesh[0].Directory.Combine("data.bin"), FileSize, seed: 6);
        var put = await mesh[0].PutAsync(path, replicas: 2);
        var manifest = mesh[0].Node.Put.Manifest(FileId.Parse(put.Id))!;
        var lost = Enumerable.Range(0, manifest.ChunkCount).Count(i => mesh.HoldersOf(manifest[i].Hash).All(n => n is 2 or 3));

        await Task.WhenAll(mesh.StopAsync(2), mesh.StopAsync(3));
        await Eventually.TrueAsync(() => mesh[0].Node.Connections.Connections.Count(c => c.IsOpen) == 1, "the two nodes to be gone");

        var response = await mesh[1].Api.PostAsJsonAsync("api/downloads", new GetRequest(put.Link, mesh[1].Downloads), ApiJson.Default.GetRequest);
        if (lost == 0)
        {
            response.EnsureSuccessStatusCode();
            return;
        }

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var error = await response.Content.ReadFromJsonAsync(ApiJson.Default.ErrorDto);
        Assert.Equal($"unavailable: {lost} of {manifest.ChunkCount} chunks are on no online node", error!.Error);
        Assert.Equal(0, (await mesh[1].FilesAsync()).Single(f => f.Id == put.Id).Replicas);
    }

    [Fact]
    public async Task A_put_under_way_shows_how_much_is_placed()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        await using var slow = await ScriptedPeer.ConnectAsync(a, a.Node.Membership, "slow");
        slow.OfferStore(1L << 30);
        await Eventually.TrueAsync(() => a.Node.Put.KnownStores == 1, "a to know the slow peer's store");
        var path = TestFiles.Create(a.Directory.Combine("data.bin"), 8L << 20, seed: 7);

        var putting = a.PutAsync(path, replicas: 2);
        await Eventually.TrueAsync(() => slow.StoresWaiting > 0, "the first chunks to reach the slow peer");
        var progress = Assert.Single((await a.Api.GetFromJsonAsync("api/put", ApiJson.Default.IReadOnlyListPutProgressDto))!);
        Assert.Equal(("data.bin", 8L << 20), (progress.Name, progress.Size));
        Assert.InRange(progress.PlacedBytes, 0, (8L << 20) - 1);

        slow.ReleaseStores();
        Assert.Equal(2, (await putting).Copies);
        Assert.Empty((await a.Api.GetFromJsonAsync("api/put", ApiJson.Default.IReadOnlyListPutProgressDto))!);
    }

    /// <summary>Nodes that all dial each other, so each can place chunks on every other.</summary>
    private sealed class Mesh : IAsyncDisposable
    {
        private readonly List<TestNode?> _nodes = [];
        private readonly Dictionary<int, TestNode> _stopped = [];

        public IReadOnlyList<TestNode?> Nodes => _nodes;

        public TestNode this[int index] => _nodes[index] ?? throw new InvalidOperationException($"node {index} is stopped");

        public static async Task<Mesh> StartAsync(int count, Func<int, long>? quotaOf = null)
        {
            var mesh = new Mesh();
            try
            {
                for (var i = 0; i < count; i++)
                {
                    var index = i;
                    Func<NodeOptions, NodeOptions> configure = o => o with { PutOptions = QuickRepair, DownAfter = DownAfter, StoreQuota = quotaOf?.Invoke(index) ?? 1L << 30 };
                    var node = i == 0
                        ? await TestNode.StartAsync("n0", null, [], configure: configure)
                        : await TestNode.StartAsync($"n{i}", Shoal.Node.Home.NodeSetup.CreateInvite(mesh[0].Node.Home, [mesh[0].Address]), [.. mesh._nodes.Select(n => n!.Address)], configure: configure);
                    mesh._nodes.Add(node);
                }

                await mesh.WaitForFullMeshAsync();
                return mesh;
            }
            catch
            {
                await mesh.DisposeAsync();
                throw;
            }
        }

        /// <summary>Which nodes (by index) keep this chunk in their store; stopped nodes do not count.</summary>
        public List<int> HoldersOf(Hash256 chunk) => [.. Enumerable.Range(0, _nodes.Count).Where(i => _nodes[i]?.Node.Put.Store.Has(chunk) == true)];

        public async Task StopAsync(int index)
        {
            var node = this[index];
            _nodes[index] = null;
            _stopped[index] = node;
            await node.StopAsync();
        }

        public async Task RestartAsync(int index)
        {
            _stopped.Remove(index, out var stopped);
            var others = _nodes.OfType<TestNode>().Select(n => n.Address).ToList();

            // It comes back on a new port: it dials everyone rather than waiting to be found.
            _nodes[index] = await stopped!.StartAgainAsync(o => o with { Peers = others });
            await WaitForFullMeshAsync();
        }

        private async Task WaitForFullMeshAsync()
        {
            var live = _nodes.OfType<TestNode>().ToList();
            foreach (var node in live)
            {
                foreach (var other in live.Where(o => o != node)) await node.WaitForPeerAsync(other);
            }

            // Placement needs each peer's free room, which arrives right after the link is up.
            await Eventually.TrueAsync(() => live.All(n => n.Node.Put.KnownStores == live.Count - 1), "every node to know the others' stores");
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var node in _nodes.OfType<TestNode>()) await node.DisposeAsync();
            foreach (var node in _stopped.Values) await node.DisposeAsync();
        }
    }
}
