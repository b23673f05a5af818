using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Shoal.Bench;

/// <summary>
/// Many sinks on one seed, every node its own process: 32 sinks start the same download at once. Run twice: with the
/// seed's default peer limit (64: every sink is served at once), and with --max-peers 16, where half the sinks are told
/// "busy" and get in as sinks that finished leave. Every download is checked by SHA-256.
/// </summary>
internal static class LoadScenario
{
    public const int Sinks = 32;

    private static readonly TimeSpan RssInterval = TimeSpan.FromMilliseconds(100);

    public static async Task<string> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var report = new StringBuilder();
        report.AppendLine("| seed | all verified in | per sink: fastest / median / slowest | seed CPU | seed peak RSS (VmHWM) | seed max RSS during | busy refusals |");
        report.AppendLine("| --- | --- | --- | --- | --- | --- | --- |");
        foreach (var maxPeers in new[] { 64, 16 })
        {
            Console.Out.WriteLine($"load with --max-peers {maxPeers} ...");
            report.AppendLine(await RunOnceAsync(context, maxPeers, cancellationToken).ConfigureAwait(false));
        }

        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"{Sinks} sinks × {context.Size / (double)(1L << 20):0} MiB. With 16 peers at most, a sink leaves (its process is killed) as soon as its file is verified, making room for one that was told to come back 10 s later.");
        return report.ToString();
    }

    private static async Task<string> RunOnceAsync(BenchContext context, int maxPeers, CancellationToken cancellationToken)
    {
        var dir = Path.Combine(context.WorkDir, $"load-{maxPeers}");
        Directory.CreateDirectory(dir);
        var nodes = new List<NodeProcess>();
        try
        {
            var seed = await Scenario.StartNodeAsync(context, dir, "seed", null, [], nodes, cancellationToken, ["--max-peers", maxPeers.ToString(CultureInfo.InvariantCulture)]).ConfigureAwait(false);
            var invite = await Command.RunAsync(context.Shoal, ["invite", "--home", Path.Combine(dir, "seed")], cancellationToken).ConfigureAwait(false);
            var link = (string)(await seed.PostAsync("api/share", new JsonObject { ["paths"] = new JsonArray(context.SourcePath) }, cancellationToken).ConfigureAwait(false))[0]!["link"]!;

            // Started a few at a time: 32 processes starting at once on a small machine only measure its scheduler.
            var sinks = new List<NodeProcess>();
            foreach (var batch in Enumerable.Range(0, Sinks).Chunk(8))
            {
                sinks.AddRange(await Task.WhenAll(batch.Select(i => Scenario.StartNodeAsync(context, dir, $"sink{i}", invite, [], nodes, cancellationToken))).ConfigureAwait(false));
            }

            var cpuBefore = seed.CpuTicks();
            using var stopSampling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var sampling = SampleRssAsync(seed, stopSampling.Token);
            var clock = Stopwatch.StartNew();
            var times = await Task.WhenAll(sinks.Select(sink => DownloadAsync(context, seed, sink, link, maxPeers < Sinks, dir, clock, cancellationToken))).ConfigureAwait(false);
            var total = clock.Elapsed.TotalSeconds;
            var cpu = (seed.CpuTicks() - cpuBefore) / (double)context.ClockTicks;
            var peak = seed.StatusBytes("VmHWM");
            var busy = (long)(await seed.GetAsync("api/status", cancellationToken).ConfigureAwait(false))["busyRefusals"]!;
            await stopSampling.CancelAsync().ConfigureAwait(false);
            var sampled = await sampling.ConfigureAwait(false);

            Array.Sort(times);
            var gib = context.Size * (double)Sinks / (1L << 30);
            return string.Create(
                CultureInfo.InvariantCulture,
                $"| --max-peers {maxPeers} | {total:F1} s ({gib * (1L << 30) / total / 1e6:F0} MB/s sent), {Sinks}/{Sinks} SHA-256 ok | {times[0]:F1} / {times[Sinks / 2]:F1} / {times[^1]:F1} s | {cpu:F1} s ({cpu / gib:F2} s/GiB sent) | {peak / (double)(1L << 20):F0} MiB | {sampled / (double)(1L << 20):F0} MiB | {busy} |");
        }
        finally
        {
            foreach (var node in nodes) node.Dispose();
            Bench.TryDelete(dir);
        }
    }

    /// <summary>One sink's download, verified; the seconds from the common start until it completed.</summary>
    private static async Task<double> DownloadAsync(
        BenchContext context, NodeProcess seed, NodeProcess sink, string link, bool leave, string dir, Stopwatch clock, CancellationToken cancellationToken)
    {
        var downloads = Path.Combine(dir, $"{sink.Name}-downloads");
        Directory.CreateDirectory(downloads);
        var started = await sink.PostAsync("api/downloads", new JsonObject { ["link"] = link, ["directory"] = downloads }, cancellationToken).ConfigureAwait(false);
        // Only these two: other sinks may have left already.
        var final = await Scenario.WaitForCompletionAsync(context, sink, (string)started["id"]!, clock, [seed, sink], cancellationToken).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        if (leave) sink.Dispose();
        await Scenario.VerifyAsync(context, (string?)final["path"], cancellationToken).ConfigureAwait(false);
        File.Delete((string)final["path"]!);
        return seconds;
    }

    private static async Task<long> SampleRssAsync(NodeProcess seed, CancellationToken stop)
    {
        long max = 0;
        while (!stop.IsCancellationRequested)
        {
            max = Math.Max(max, seed.StatusBytes("VmRSS"));
            try
            {
                await Task.Delay(RssInterval, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return max;
    }
}
