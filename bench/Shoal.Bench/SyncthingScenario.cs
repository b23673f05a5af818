using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Shoal.Bench.Peers;

namespace Shoal.Bench;

/// <summary>One run of Syncthing A → B. Latencies: sorted, in ms. CPU over the big file's drop until it was complete on B.</summary>
internal sealed record SyncthingRun(
    int Run, long Bytes, int SmallFiles, double SmallSeconds, double SmallWarmSeconds, double BigSeconds,
    double CpuSecondsA, double CpuSecondsB, long PeakRssA, long PeakRssB, IReadOnlyList<double> Latencies)
{
    public double BigMBps => Bytes / BigSeconds / 1e6;

    public double CpuPerGiB(double cpuSeconds) => cpuSeconds / (Bytes / (double)(1L << 30));

    public JsonObject ToJson() => new()
    {
        ["scenario"] = "syncthing",
        ["run"] = Run,
        ["bytes"] = Bytes,
        ["smallFiles"] = SmallFiles,
        ["smallFilesPerSecond"] = Math.Round(SmallFiles / SmallSeconds, 1),
        ["smallWarmFilesPerSecond"] = Math.Round(SmallFiles / SmallWarmSeconds, 1),
        ["bigSeconds"] = Math.Round(BigSeconds, 3),
        ["mbPerSecond"] = Math.Round(BigMBps, 1),
        ["cpuSecondsPerGiB"] = Math.Round(CpuPerGiB(CpuSecondsA + CpuSecondsB), 3),
        ["latencyP50Ms"] = Math.Round(FolderScenario.Percentile(Latencies, 0.5), 1),
        ["latencyP95Ms"] = Math.Round(FolderScenario.Percentile(Latencies, 0.95), 1),
    };
}

/// <summary>Syncthing's medians over the runs of this invocation, for the folder table and the headlines.</summary>
internal sealed record SyncthingFigures(
    string Version, int Runs, double SmallFilesPerSecond, double WarmFilesPerSecond, double BigMBps, double LatencyP50, double LatencyP95);

/// <summary>
/// Syncthing side by side with Shoal, on the same machine, in the same invocation, with the same source file: two
/// instances A and B on loopback (fresh homes every run), timed exactly as <see cref="FolderScenario"/> times Shoal
/// (its own methods): 1000 × 4 KiB files dropped into A's folder in one rename, twice (fresh, then warmed up); the
/// source file moved into A's folder until it is complete and SHA-256-equal on B (P1's drop-to-peer rate); small edits
/// on A until B has the new bytes (P5). Runs before 1to1 and folder, which compare with <see cref="Measured"/>.
/// </summary>
internal static class SyncthingScenario
{
    private const string BigName = "big.bin";

    /// <summary>Null until the scenario ran in this invocation.</summary>
    public static SyncthingFigures? Measured { get; private set; }

    public static async Task<string> RunAsync(BenchContext context, int runs, CancellationToken cancellationToken)
    {
        var version = await Syncthing.VersionAsync().ConfigureAwait(false);
        // As the other peers' scenarios: the rest of the bench still runs, and folder falls back to PEERS.md's figures.
        if (version.Length == 0) return $"not run: syncthing is not installed (bench/run installs it: apt-get install -y syncthing){Environment.NewLine}";
        var results = new List<SyncthingRun>();
        for (var run = 1; run <= runs; run++)
        {
            Console.Out.WriteLine($"syncthing run {run}/{runs} ...");
            var result = await RunOnceAsync(context, run, cancellationToken).ConfigureAwait(false);
            results.Add(result);
            Console.Out.WriteLine(result.ToJson().ToJsonString());
        }

        Measured = new SyncthingFigures(
            version,
            runs,
            Report.Median(results.Select(r => r.SmallFiles / r.SmallSeconds)),
            Report.Median(results.Select(r => r.SmallFiles / r.SmallWarmSeconds)),
            Report.Median(results.Select(r => r.BigMBps)),
            Report.Median(results.Select(r => FolderScenario.Percentile(r.Latencies, 0.5))),
            Report.Median(results.Select(r => FolderScenario.Percentile(r.Latencies, 0.95))));
        return Table(context, version, results);
    }

    private static async Task<SyncthingRun> RunOnceAsync(BenchContext context, int run, CancellationToken cancellationToken)
    {
        var dir = Path.Combine(context.WorkDir, $"syncthing-run{run}");
        Directory.CreateDirectory(dir);
        Syncthing? a = null;
        Syncthing? b = null;
        var bigOnA = Path.Combine(dir, "a", "folder", BigName);
        try
        {
            a = await Syncthing.StartAsync(Path.Combine(dir, "a", "home"), "syncthing-a", Path.Combine(dir, "a", "folder"), cancellationToken).ConfigureAwait(false);
            b = await Syncthing.StartAsync(Path.Combine(dir, "b", "home"), "syncthing-b", Path.Combine(dir, "b", "folder"), cancellationToken).ConfigureAwait(false);
            await a.AddDeviceAsync(b, cancellationToken).ConfigureAwait(false);
            await b.AddDeviceAsync(a, cancellationToken).ConfigureAwait(false);
            await a.ShareFolderAsync(b, cancellationToken).ConfigureAwait(false);
            await b.ShareFolderAsync(a, cancellationToken).ConfigureAwait(false);
            var (sa, sb) = (a, b);
            await FolderScenario.WaitAsync(
                async () => await sa.ReadyForAsync(sb, cancellationToken).ConfigureAwait(false) && await sb.ReadyForAsync(sa, cancellationToken).ConfigureAwait(false),
                "the two Syncthing instances to connect and share the folder", context.Timeout, cancellationToken, TimeSpan.FromMilliseconds(50)).ConfigureAwait(false);

            var smallFiles = FolderScenario.SmallFiles(context);
            var (smallSeconds, _) = await FolderScenario.SmallFilesAsync(dir, a.Folder, b.Folder, "small", smallFiles, context.Timeout, cancellationToken, a.RequestScan).ConfigureAwait(false);
            var (smallWarmSeconds, _) = await FolderScenario.SmallFilesAsync(dir, a.Folder, b.Folder, "small-again", smallFiles, context.Timeout, cancellationToken, a.RequestScan).ConfigureAwait(false);

            // The source file moved in (same file system), as FolderScenario does: the clock covers A's scan (hashing),
            // the transfer, B's checks, fsync and the final rename of its temporary file.
            var bigOnB = Path.Combine(b.Folder, BigName);
            var ticksA = a.Process.CpuTicks();
            var ticksB = b.Process.CpuTicks();
            var clock = Stopwatch.StartNew();
            File.Move(context.SourcePath, bigOnA);
            a.RequestScan(BigName);
            await FolderScenario.WaitAsync(() => Task.FromResult(File.Exists(bigOnB) && new FileInfo(bigOnB).Length == context.Size), "Syncthing B to have the big file", context.Timeout, cancellationToken).ConfigureAwait(false);
            var bigSeconds = clock.Elapsed.TotalSeconds;
            var cpuA = (a.Process.CpuTicks() - ticksA) / (double)context.ClockTicks;
            var cpuB = (b.Process.CpuTicks() - ticksB) / (double)context.ClockTicks;
            await using (var stream = File.OpenRead(bigOnB))
            {
                if (!(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false)).AsSpan().SequenceEqual(context.SourceHash)) throw new BenchException("the big file differs on Syncthing B");
            }

            var latencies = await FolderScenario.ChangeLatencyAsync(a.Folder, b.Folder, FolderScenario.LatencySamples(context), context.Timeout, cancellationToken, a.RequestScan).ConfigureAwait(false);
            await a.ScansAsync().ConfigureAwait(false);
            return new SyncthingRun(
                run, context.Size, smallFiles, smallSeconds, smallWarmSeconds, bigSeconds, cpuA, cpuB,
                a.Process.StatusBytes("VmHWM"), b.Process.StatusBytes("VmHWM"), latencies);
        }
        finally
        {
            b?.Dispose();
            a?.Dispose();
            // The source goes back for the scenarios after this one (Syncthing never writes to A's copy).
            if (File.Exists(bigOnA) && !File.Exists(context.SourcePath)) File.Move(bigOnA, context.SourcePath);
            Bench.TryDelete(dir);
        }
    }

    private static string Table(BenchContext context, string version, IReadOnlyList<SyncthingRun> runs)
    {
        var files = $"{runs[0].SmallFiles} × 4 KiB";
        var size = Report.SizeText(context.Size);
        var text = new StringBuilder();
        text.Append(Report.MedianTable(runs, [
            ($"{files}, drop into A → all on B (fresh instances), files/s", r => r.SmallFiles / r.SmallSeconds, "F0"),
            ($"another {files} (warmed up), files/s", r => r.SmallFiles / r.SmallWarmSeconds, "F0"),
            ($"{size} file, move into A → complete on B, MB/s (10^6 B/s)", r => r.BigMBps, "F1"),
            ($"{size} file, move into A → complete on B, s", r => r.BigSeconds, "F2"),
            ("CPU s/GiB A (scan and send)", r => r.CpuPerGiB(r.CpuSecondsA), "F2"),
            ("CPU s/GiB B (receive)", r => r.CpuPerGiB(r.CpuSecondsB), "F2"),
            ("CPU s/GiB total", r => r.CpuPerGiB(r.CpuSecondsA + r.CpuSecondsB), "F2"),
            ("peak RSS MiB A (VmHWM)", r => r.PeakRssA / (double)(1 << 20), "F0"),
            ("peak RSS MiB B (VmHWM)", r => r.PeakRssB / (double)(1 << 20), "F0"),
            ($"change on A → same bytes on B, p50 ms ({runs[0].Latencies.Count} samples)", r => FolderScenario.Percentile(r.Latencies, 0.5), "F0"),
            ("change on A → same bytes on B, p95 ms", r => FolderScenario.Percentile(r.Latencies, 0.95), "F0"),
        ]));
        text.AppendLine();
        text.AppendLine(
            $"{version}, two instances on 127.0.0.1 (discovery, relays, NAT, STUN, usage and crash reporting, upgrades off; normal " +
            "priority), timed like the folder scenario (B's folder polled every 5 ms, every file compared, the big file by SHA-256). " +
            "Its watcher is on, and every change is also announced with `POST /rest/db/scan` right after it: the watcher would " +
            "wait 10 s (its default delay, 1 s at least) before scanning, so no Syncthing figure includes that wait. fsync on (its default).");
        return text.ToString();
    }
}
