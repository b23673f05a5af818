using System.Diagnostics;
using System.Text.Json;
using Shoal.Integration.Tests.Support;
using Xunit.Abstractions;

using static Shoal.Integration.Tests.Testbed.TestbedNetwork;

namespace Shoal.Integration.Tests.Testbed;

/// <summary>put on a LAN of four hosts, driven through each host's CLI; chunk placement read from the stores on disk.</summary>
public sealed class PutTestbedTests(ITestOutputHelper output)
{
    private const string DownAfterSeconds = "3";

    [RootFact]
    public async Task A_put_file_outlives_its_uploader_and_a_dead_node_and_the_surplus_goes_when_it_returns()
    {
        await using var bed = await Testbed.CreateAsync(4);
        string[] args = ["--down-after", DownAfterSeconds];
        var nodes = await StartNetworkAsync(bed, 4, args, args, args, args);
        await UntilAsync(
            async () => (await Task.WhenAll(nodes.Select(n => SeesAllOnlineAsync(n, [.. nodes.Where(o => o != n)])))).All(x => x),
            TimeSpan.FromSeconds(60),
            "every node to list the 3 others online",
            () => PeerTablesAsync(nodes));

        var source = TestFiles.Create(bed.Directory.Combine("src", "archive.tar"), 16 * 1024 * 1024 + 7, seed: 41);
        var put = await nodes[0].RunCliAsync("put", source, "--replicas", "2", "--json");
        Assert.True(put.ExitCode == 0, ProcessRunner.Describe(put));
        using var putJson = JsonDocument.Parse(put.Stdout);
        var id = putJson.RootElement[0].GetProperty("id").GetString()!;
        var link = putJson.RootElement[0].GetProperty("link").GetString()!;
        var chunks = AllChunks(nodes);
        Assert.True(chunks.Count >= 8, $"{chunks.Count} chunks");
        Assert.All(chunks, c => Assert.Equal(2, HoldersOf(c, nodes).Count));

        // The uploader leaves; the file comes from the replicas.
        await nodes[0].KillAsync();
        var downloads = bed.Directory.Combine("downloads-h4");
        var get = await nodes[3].RunCliAsync("get", link, "-o", downloads);
        Assert.True(get.ExitCode == 0, ProcessRunner.Describe(get));
        Assert.Equal(TestFiles.Sha256(source), TestFiles.Sha256(Path.Combine(downloads, "archive.tar")));

        // Host 2 dies too: hosts 3 and 4 must end up with every chunk, checked chunk by chunk on disk.
        await nodes[1].KillAsync();
        var clock = Stopwatch.StartNew();
        var live = new[] { nodes[2], nodes[3] };
        await UntilAsync(
            () => Task.FromResult(chunks.All(c => HoldersOf(c, live).Count == 2)),
            TimeSpan.FromSeconds(90),
            "every chunk to have two copies on the two live hosts",
            () => PeerTablesAsync(live));
        output.WriteLine($"two copies of all {chunks.Count} chunks again {clock.Elapsed.TotalSeconds:F1} s after host 2 died (down after {DownAfterSeconds} s)");
        Assert.Equal(2, await ReplicasAsync(nodes[2], id));

        // Host 2 comes back with its old chunks: each chunk ends on exactly two of the three.
        var back = await bed.StartNodeAsync(2, nodes[1].Home, args);
        var three = new[] { back, nodes[2], nodes[3] };
        await UntilAsync(
            () => Task.FromResult(chunks.All(c => HoldersOf(c, three).Count == 2)),
            TimeSpan.FromSeconds(90),
            "the surplus copies to be dropped",
            () => PeerTablesAsync(three));
    }

    private static HashSet<string> AllChunks(IEnumerable<TestbedNode> nodes) =>
        [.. nodes.SelectMany(StoredChunks)];

    private static List<TestbedNode> HoldersOf(string chunk, IEnumerable<TestbedNode> nodes) =>
        [.. nodes.Where(n => StoredChunks(n).Contains(chunk))];

    private static IEnumerable<string> StoredChunks(TestbedNode node)
    {
        var store = Path.Combine(node.Home, "store");
        return Directory.Exists(store)
            ? Directory.EnumerateFiles(store, "*", SearchOption.AllDirectories).Select(Path.GetFileName).OfType<string>().Where(n => n.Length == 64)
            : [];
    }

    private static async Task<int> ReplicasAsync(TestbedNode node, string id)
    {
        var ls = await node.RunCliAsync("ls", "--json");
        Assert.True(ls.ExitCode == 0, ProcessRunner.Describe(ls));
        using var json = JsonDocument.Parse(ls.Stdout);
        return json.RootElement.EnumerateArray().Single(f => f.GetProperty("id").GetString() == id).GetProperty("replicas").GetInt32();
    }
}
