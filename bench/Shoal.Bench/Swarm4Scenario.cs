using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Shoal.Bench.Peers;

namespace Shoal.Bench;

/// <summary>
/// P2: four sources whose uplinks are capped at 200 Mbit/s each (tc tbf on their eth0 egress, in a testbed of network
/// namespaces) → one uncapped sink: can the sink draw the 800 Mbit/s sum? Shoal: four seeds sharing the same file
/// (same id), the sink given all four as <c>--peer</c>; then aria2 in the same hosts (four seeds of one torrent, one
/// leecher; the tracker on a sixth, uncapped host). File: the source, at most 1 GiB. Every download checked by SHA-256.
/// </summary>
internal static class Swarm4Scenario
{
    public const int Sources = 4;
    public const string Rate = "200mbit";
    public const string Title = "swarm4: 4 sources × 200 Mbit/s uplink (tc tbf in network namespaces) → 1 sink (P2)";

    /// <summary>The sum of the four uplinks in bytes per second: 800 Mbit/s = 100 MB/s on the wire.</summary>
    public const double SumBytesPerSecond = Sources * 200e6 / 8;

    public const long MaxSize = 1L << 30;

    private const int TrackerPort = 6969;

    private static readonly TimeSpan AnnounceTimeout = TimeSpan.FromSeconds(60);

    private sealed record ShoalRun(double Seconds, double SinkCpuSeconds, IReadOnlyList<long> BytesFromSeeds);

    public static async Task<string> RunAsync(BenchContext context, int runs, CancellationToken cancellationToken)
    {
        if (Netns.Unavailable() is { } unavailable) return $"not run: {unavailable}{Environment.NewLine}";
        var repo = Path.GetDirectoryName(context.Shoal)!;
        var aria2Missing = Aria2.Missing(repo);
        var dir = Path.Combine(context.WorkDir, "swarm4");
        Directory.CreateDirectory(dir);
        try
        {
            var source = await SourceOfSizeAsync(context, Math.Min(context.Size, MaxSize), dir, cancellationToken).ConfigureAwait(false);
            source = source with { Shoal = await Netns.ShoalSnapshotAsync(context, cancellationToken).ConfigureAwait(false) };
            // Hosts 1-4 the sources, 5 the sink, 6 aria2's tracker; only the sources' uplinks are capped.
            using var testbed = await NetnsTestbed.CreateAsync(repo, Sources + 2, cancellationToken).ConfigureAwait(false);
            for (var i = 1; i <= Sources; i++) await testbed.CapAsync(i, Rate, cancellationToken).ConfigureAwait(false);
            var trackerHost = testbed.Host(Sources + 2);
            var torrent = aria2Missing is null
                ? await Aria2.MakeTorrentAsync(source.SourcePath, $"http://{trackerHost.Address}:{TrackerPort}/announce", Path.Combine(dir, "source.torrent"), cancellationToken).ConfigureAwait(false)
                : null;

            var shoalRuns = new List<ShoalRun>();
            var aria2Runs = new List<(double Complete, double Exit)>();
            for (var run = 1; run <= runs; run++)
            {
                Console.Out.WriteLine($"swarm4 run {run}/{runs}: Shoal ...");
                var shoal = await ShoalOnceAsync(source, testbed, dir, run, cancellationToken).ConfigureAwait(false);
                shoalRuns.Add(shoal);
                Console.Out.WriteLine(Json("Shoal", run, source.Size, shoal.Seconds, null).ToJsonString());
                if (torrent is null) continue;
                Console.Out.WriteLine($"swarm4 run {run}/{runs}: aria2 ...");
                var aria2 = await Aria2OnceAsync(source, repo, testbed, torrent, dir, run, cancellationToken).ConfigureAwait(false);
                aria2Runs.Add(aria2);
                Console.Out.WriteLine(Json("aria2", run, source.Size, aria2.Complete, aria2.Exit).ToJsonString());
            }

            double MBps(double seconds) => source.Size / seconds / 1e6;
            double PercentOfSum(double seconds) => 100 * source.Size / seconds / SumBytesPerSecond;
            var gib = source.Size / (double)(1L << 30);
            List<(string, Func<ShoalRun, double>, string)> shoalRows =
            [
                ("Shoal transfer MB/s (POST → completed)", r => MBps(r.Seconds), "F1"),
                ("Shoal, % of the 800 Mbit/s sum", r => PercentOfSum(r.Seconds), "F1"),
                ("Shoal transfer time s", r => r.Seconds, "F2"),
                ("Shoal sink CPU s/GiB", r => r.SinkCpuSeconds / gib, "F2"),
                .. Enumerable.Range(0, Sources).Select(i => ($"Shoal chunk bytes from seed{i + 1}, % of file size", (Func<ShoalRun, double>)(r => 100.0 * r.BytesFromSeeds[i] / source.Size), "F1")),
            ];
            var report = new StringBuilder(Report.MedianTable(shoalRuns, shoalRows));
            if (aria2Runs.Count > 0)
            {
                report.AppendLine();
                report.Append(Report.MedianTable<(double Complete, double Exit)>(
                    aria2Runs,
                    [
                        ("aria2 transfer MB/s (leecher start → download complete)", r => MBps(r.Complete), "F1"),
                        ("aria2, % of the 800 Mbit/s sum", r => PercentOfSum(r.Complete), "F1"),
                        ("aria2 time s to complete", r => r.Complete, "F2"),
                        ("aria2 time s to leecher exit", r => r.Exit, "F2"),
                    ]));
            }

            report.AppendLine();
            report.AppendLine(
                $"{source.Size / (double)(1L << 20):0} MiB file. Testbed {testbed.Name} (10.77.{testbed.Subnet}.0/24): hosts 1-4 the sources, each eth0 egress capped by `tc tbf rate 200mbit burst 256kb latency 100ms` " +
                "(testbed/rate), host 5 the sink (uncapped), host 6 aria2's tracker. tbf counts whole frames: with TCP/IP and Ethernet headers (~4 % at a 1448-byte MSS) " +
                "about 96 % of the sum can be payload. Shoal: 4 seeds share one file, the sink has every seed as `--peer`; the clock starts once it sees all four holding the file. " +
                (aria2Missing is null ? "aria2: 4 seeds, 1 leecher (`--seed-time=0`), clock from the leecher's start." : $"aria2 not run: {aria2Missing}"));

            var shoalPercent = Report.Median(shoalRuns.Select(r => PercentOfSum(r.Seconds)));
            double? aria2Percent = aria2Runs.Count == 0 ? null : Report.Median(aria2Runs.Select(r => PercentOfSum(r.Complete)));
            var aria2Name = aria2Runs.Count == 0 ? "" : "aria2";
            Headlines.Add(new Headline("P2", "4 sources × 200 Mbit/s → 1 sink, % of the 800 Mbit/s sum", "%", shoalPercent, aria2Percent, aria2Name, "≥ 90 %", shoalPercent >= 90));
            // The same in MB/s, so that it has a bar in the throughput plot.
            Headlines.Add(new Headline(
                "P2", "4 sources × 200 Mbit/s → 1 sink", "MB/s", Report.Median(shoalRuns.Select(r => MBps(r.Seconds))),
                aria2Runs.Count == 0 ? null : Report.Median(aria2Runs.Select(r => MBps(r.Complete))), aria2Name, "context", null));
            return report.ToString();
        }
        finally
        {
            Bench.TryDelete(dir);
        }
    }

    private static JsonObject Json(string system, int run, long bytes, double seconds, double? exitSeconds) => new()
    {
        ["scenario"] = "swarm4",
        ["system"] = system,
        ["run"] = run,
        ["bytes"] = bytes,
        ["transferSeconds"] = Math.Round(seconds, 3),
        ["exitSeconds"] = exitSeconds is { } e ? Math.Round(e, 3) : null,
        ["mbPerSecond"] = Math.Round(bytes / seconds / 1e6, 1),
        ["percentOfSum"] = Math.Round(100 * bytes / seconds / SumBytesPerSecond, 1),
    };

    private static async Task<ShoalRun> ShoalOnceAsync(BenchContext context, NetnsTestbed testbed, string dir, int run, CancellationToken cancellationToken)
    {
        var runDir = Path.Combine(dir, $"shoal-run{run}");
        var nodes = new List<NodeProcess>();
        try
        {
            // A port of its own per run: the last run's sockets may linger in TIME_WAIT.
            var port = NetnsHost.DefaultPort + run;
            var seeds = new List<NodeProcess>();
            string? invite = null;
            for (var i = 1; i <= Sources; i++)
            {
                var seed = await Scenario.StartNodeAsync(context, runDir, $"seed{i}", invite, [], nodes, cancellationToken, host: testbed.Host(i).WithPort(port)).ConfigureAwait(false);
                seeds.Add(seed);
                invite ??= await Command.RunAsync(context.Shoal, ["invite", "--home", Path.Combine(runDir, "seed1")], cancellationToken).ConfigureAwait(false);
            }

            var (link, fileId) = ("", "");
            foreach (var seed in seeds)
            {
                var shared = await seed.PostAsync("api/share", new JsonObject { ["paths"] = new JsonArray(context.SourcePath) }, cancellationToken).ConfigureAwait(false);
                (link, fileId) = ((string)shared[0]!["link"]!, (string)shared[0]!["id"]!);
            }

            var sink = await Scenario.StartNodeAsync(
                context, runDir, "sink", invite, [.. seeds.Select(s => s.ListenAddress)], nodes, cancellationToken, host: testbed.Host(Sources + 1).WithPort(port)).ConfigureAwait(false);
            await Scenario.WaitForSourcesAsync(sink, fileId, Sources, nodes, cancellationToken).ConfigureAwait(false);

            var downloads = Path.Combine(runDir, "downloads");
            Directory.CreateDirectory(downloads);
            var ticks = sink.CpuTicks();
            var clock = Stopwatch.StartNew();
            var started = await sink.PostAsync("api/downloads", new JsonObject { ["link"] = link, ["directory"] = downloads }, cancellationToken).ConfigureAwait(false);
            var final = await Scenario.WaitForCompletionAsync(context, sink, (string)started["id"]!, clock, nodes, cancellationToken).ConfigureAwait(false);
            var seconds = clock.Elapsed.TotalSeconds;
            var cpu = (sink.CpuTicks() - ticks) / (double)context.ClockTicks;
            var bytesFrom = await Scenario.BytesPerPeerAsync(sink, cancellationToken).ConfigureAwait(false);
            await Scenario.VerifyAsync(context, (string?)final["path"], cancellationToken).ConfigureAwait(false);
            return new ShoalRun(seconds, cpu, [.. Enumerable.Range(1, Sources).Select(i => bytesFrom.GetValueOrDefault($"seed{i}"))]);
        }
        finally
        {
            foreach (var node in nodes) node.Dispose();
            Bench.TryDelete(runDir);
        }
    }

    private static async Task<(double Complete, double Exit)> Aria2OnceAsync(
        BenchContext context, string repo, NetnsTestbed testbed, string torrent, string dir, int run, CancellationToken cancellationToken)
    {
        var leechDir = Path.Combine(dir, $"aria2-run{run}");
        var trackerHost = testbed.Host(Sources + 2);
        var sinkHost = testbed.Host(Sources + 1);
        var port = Aria2.Port + run;
        var seeds = new List<NodeProcess>();
        try
        {
            using var tracker = await BtTracker.StartAsync(repo, trackerHost.Address, TrackerPort, trackerHost.Namespace, cancellationToken).ConfigureAwait(false);
            for (var i = 1; i <= Sources; i++)
            {
                var host = testbed.Host(i);
                seeds.Add(Aria2.StartSeed($"aria2-seed{i}", torrent, context.SourcePath, host.Address, port, host.Namespace));
            }

            await tracker.WaitForSeedersAsync(Sources, AnnounceTimeout, seeds, cancellationToken).ConfigureAwait(false);
            var clock = Stopwatch.StartNew();
            using var leech = Aria2.StartLeech("aria2-leech", torrent, Path.GetFileName(context.SourcePath), leechDir, sinkHost.Address, port, sinkHost.Namespace, keepSeeding: false);
            var finish = await Aria2.WaitCompleteAsync(leech, clock, context.Timeout, context.ClockTicks, cancellationToken).ConfigureAwait(false);
            var exitSeconds = await Aria2.WaitExitAsync(leech, clock, cancellationToken).ConfigureAwait(false);
            await Scenario.VerifyAsync(context, leech.File, cancellationToken).ConfigureAwait(false);
            return (finish.Seconds, exitSeconds);
        }
        finally
        {
            foreach (var seed in seeds) seed.Dispose();
            Bench.TryDelete(leechDir);
        }
    }

    /// <summary>
    /// The source cut to <paramref name="size"/> bytes (its first bytes, copied into <paramref name="dir"/> under the same
    /// name and hashed), or the source itself when it is no bigger: a context whose file, size and hash are that file's.
    /// </summary>
    internal static async Task<BenchContext> SourceOfSizeAsync(BenchContext context, long size, string dir, CancellationToken cancellationToken)
    {
        if (size >= context.Size) return context;
        var path = Path.Combine(dir, Path.GetFileName(context.SourcePath));
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[4 << 20];
        await using (var input = new FileStream(context.SourcePath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0))
        await using (var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            for (long copied = 0; copied < size;)
            {
                var read = await input.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, size - copied)), cancellationToken).ConfigureAwait(false);
                if (read == 0) throw new BenchException($"{context.SourcePath} ended before {size} bytes");
                hash.AppendData(buffer, 0, read);
                await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                copied += read;
            }
        }

        return context with { SourcePath = path, SourceHash = hash.GetHashAndReset(), Size = size };
    }
}
