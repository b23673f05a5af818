using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Shoal.Bench;

/// <summary>
/// put across four real node processes on loopback: the time to store the file with two copies of every chunk, then
/// the time until every chunk has two live copies again after one of the nodes that took chunks is killed (-9).
/// </summary>
internal static class PutScenario
{
    private const int Nodes = 4;
    private const int Replicas = 2;

    // Short, so the benchmark measures the repair rather than the wait; reported next to the result.
    private const int DownAfterSeconds = 5;

    public static async Task<string> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var dir = Path.Combine(context.WorkDir, "put");
        Directory.CreateDirectory(dir);
        var nodes = new List<NodeProcess>();
        try
        {
            string[] extra = ["--down-after", DownAfterSeconds.ToString(CultureInfo.InvariantCulture), "--store-quota", (context.Size * 2).ToString(CultureInfo.InvariantCulture)];
            var first = await Scenario.StartNodeAsync(context, dir, "n0", null, [], nodes, cancellationToken, extra).ConfigureAwait(false);
            var invite = await Command.RunAsync(context.Shoal, ["invite", "--home", Path.Combine(dir, "n0")], cancellationToken).ConfigureAwait(false);
            for (var i = 1; i < Nodes; i++)
            {
                await Scenario.StartNodeAsync(context, dir, $"n{i}", invite, [.. nodes.Select(n => n.ListenAddress)], nodes, cancellationToken, extra).ConfigureAwait(false);
            }

            foreach (var node in nodes)
            {
                await FolderScenario.WaitAsync(async () => (await node.GetAsync("api/status", cancellationToken).ConfigureAwait(false))["peersOnline"]!.GetValue<int>() == Nodes - 1, $"{node.Name} to see every node", context.Timeout, cancellationToken).ConfigureAwait(false);
            }

            var clock = Stopwatch.StartNew();
            var put = (await first.PostAsync("api/put", new JsonObject { ["paths"] = new JsonArray(context.SourcePath), ["replicas"] = Replicas }, cancellationToken).ConfigureAwait(false))[0]!;
            var putSeconds = clock.Elapsed.TotalSeconds;
            if ((int)put["copies"]! != Replicas) throw new BenchException($"put ended with {put["copies"]} copies on {put["reachableNodes"]} reachable nodes");
            var id = (string)put["id"]!;

            // The victim: the node (not the uploader) whose store took the most chunks.
            var stores = nodes.Select(n => StoreBytes(Path.Combine(dir, n.Name))).ToList();
            var victim = Enumerable.Range(1, Nodes - 1).MaxBy(i => stores[i]);
            var share = stores[victim] / (double)stores.Sum();
            var observer = nodes[victim == 1 ? 2 : 1];

            clock.Restart();
            nodes[victim].Dispose();
            var killedAt = clock.Elapsed;
            async Task<int> ReplicasSeenAsync() => (await observer.GetAsync("api/files", cancellationToken).ConfigureAwait(false)).AsArray()
                .Where(f => (string?)f?["id"] == id).Select(f => (int)f!["replicas"]!).FirstOrDefault();
            await FolderScenario.WaitAsync(async () => await ReplicasSeenAsync().ConfigureAwait(false) < Replicas, "the observer to see the node gone", context.Timeout, cancellationToken).ConfigureAwait(false);
            await FolderScenario.WaitAsync(async () => await ReplicasSeenAsync().ConfigureAwait(false) == Replicas, "every chunk to have two live copies again", context.Timeout, cancellationToken).ConfigureAwait(false);
            var restoreSeconds = (clock.Elapsed - killedAt).TotalSeconds;
            var repairSeconds = Math.Max(0, restoreSeconds - DownAfterSeconds);
            var victimBytes = stores[victim];

            var report = new StringBuilder();
            report.AppendLine("| measure | result |");
            report.AppendLine("| --- | --- |");
            report.AppendLine(CultureInfo.InvariantCulture, $"| put {context.Size / (double)(1L << 30):0.##} GiB, N = {Replicas}, {Nodes} nodes (until every chunk is confirmed on 2 nodes) | {putSeconds:F2} s = {context.Size / putSeconds / 1e6:F0} MB/s of file, {context.Size * Replicas / putSeconds / 1e6:F0} MB/s stored |");
            report.AppendLine(CultureInfo.InvariantCulture, $"| kill -9 a node holding {share:P0} of the stored bytes ({victimBytes / 1e6:F0} MB) → N = 2 restored | {restoreSeconds:F2} s, of which {DownAfterSeconds} s is the down timeout (--down-after): repair {repairSeconds:F2} s = {victimBytes / Math.Max(repairSeconds, 0.001) / 1e6:F0} MB/s |");
            return report.ToString();
        }
        finally
        {
            foreach (var node in nodes) node.Dispose();
            Bench.TryDelete(dir);
        }
    }

    private static long StoreBytes(string home)
    {
        var store = Path.Combine(home, "store");
        return Directory.Exists(store) ? Directory.EnumerateFiles(store, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) : 0;
    }
}
