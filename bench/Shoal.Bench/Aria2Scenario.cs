using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Shoal.Bench.Peers;

namespace Shoal.Bench;

/// <summary>
/// P1's BitTorrent peer: one aria2 seed → one aria2 leecher of the source file on loopback, with the npm tracker,
/// <c>--runs</c> times, each with a fresh tracker, seed and download directory. The clock runs from the leecher's start
/// (process start, tracker announce, handshakes included, as a user sees it) to the moment aria2 reports the download
/// complete; its exit (after its last announce) is given too. The file is checked by SHA-256.
/// </summary>
internal static class Aria2Scenario
{
    public const string Title = "aria2: BitTorrent on loopback, one aria2 seed → one aria2 leecher (P1's peer)";

    private static readonly TimeSpan AnnounceTimeout = TimeSpan.FromSeconds(60);

    private sealed record Run(double CompleteSeconds, double ExitSeconds, double LeechCpuSeconds, double SeedCpuSeconds, long LeechPeakRssBytes);

    /// <param name="oneToOne">The 1to1 runs of this invocation (none if it did not run), for P1's ratio.</param>
    public static async Task<string> RunAsync(BenchContext context, int runs, IReadOnlyList<RunResult> oneToOne, CancellationToken cancellationToken)
    {
        var repo = Path.GetDirectoryName(context.Shoal)!;
        if (Aria2.Missing(repo) is { } missing) return $"not run: {missing}{Environment.NewLine}";
        var version = (await Command.TryRunAsync("aria2c", ["--version"]).ConfigureAwait(false)).Split('\n')[0].Trim();
        var dir = Path.Combine(context.WorkDir, "aria2");
        Directory.CreateDirectory(dir);
        try
        {
            // One torrent for every run: it names the tracker, which each run restarts on the same port.
            var trackerPort = FreePort();
            var clock = Stopwatch.StartNew();
            var torrent = await Aria2.MakeTorrentAsync(context.SourcePath, $"http://127.0.0.1:{trackerPort}/announce", Path.Combine(dir, "source.torrent"), cancellationToken).ConfigureAwait(false);
            var torrentSeconds = clock.Elapsed.TotalSeconds;

            var results = new List<Run>();
            for (var run = 1; run <= runs; run++)
            {
                Console.Out.WriteLine($"aria2 run {run}/{runs} ...");
                var result = await RunOnceAsync(context, repo, dir, torrent, trackerPort, run, cancellationToken).ConfigureAwait(false);
                results.Add(result);
                Console.Out.WriteLine(new JsonObject
                {
                    ["scenario"] = "aria2",
                    ["run"] = run,
                    ["bytes"] = context.Size,
                    ["completeSeconds"] = Math.Round(result.CompleteSeconds, 3),
                    ["exitSeconds"] = Math.Round(result.ExitSeconds, 3),
                    ["mbPerSecond"] = Math.Round(context.Size / result.CompleteSeconds / 1e6, 1),
                }.ToJsonString());
            }

            var gib = context.Size / (double)(1L << 30);
            var aria2MBps = Report.Median(results.Select(r => context.Size / r.CompleteSeconds / 1e6));
            var report = new StringBuilder(Report.MedianTable<Run>(
                results,
                [
                    ("transfer MB/s (leecher start → download complete)", r => context.Size / r.CompleteSeconds / 1e6, "F1"),
                    ("transfer MB/s (leecher start → leecher exit)", r => context.Size / r.ExitSeconds / 1e6, "F1"),
                    ("time s to complete", r => r.CompleteSeconds, "F2"),
                    ("time s to exit", r => r.ExitSeconds, "F2"),
                    ("CPU s/GiB leecher (its whole life until complete)", r => r.LeechCpuSeconds / gib, "F2"),
                    ("CPU s/GiB seed (leecher start → complete)", r => r.SeedCpuSeconds / gib, "F2"),
                    ("peak RSS MiB leecher (VmHWM)", r => r.LeechPeakRssBytes / (double)(1L << 20), "F0"),
                ]));
            report.AppendLine();
            report.AppendLine(
                $"{version}; torrent by mktorrent ({torrentSeconds:F1} s to hash), tracker bittorrent-tracker 9.19 (HTTP, 127.0.0.1); every leecher exited with code 0. " +
                "Flags: no DHT, LPD, PEX or IPv6; seed `--bt-seed-unverified=true --seed-ratio=0.0`; leecher `--seed-time=0 --file-allocation=falloc`; " +
                "complete = aria2's `--on-bt-download-complete` hook ran (no fsync, unlike Shoal's `completed`).");

            // P1: Shoal's 1to1 get against aria2, both measured in this invocation.
            if (oneToOne.Count > 0)
            {
                var shoal = Report.Median(oneToOne.Select(r => r.MBps));
                var ratio = shoal / aria2MBps;
                report.AppendLine();
                report.AppendLine(CultureInfo.InvariantCulture, $"Shoal's 1to1 get in this run: {shoal:F1} MB/s (median) = **{ratio:F2}× aria2** (target ≥ 4×: {(ratio >= 4 ? "met" : "not met")}).");
                // The same measure as the 1to1 headline against Syncthing (Program.AddGetHeadlines), with the other peer.
                Headlines.Add(new Headline("P1", $"{Report.SizeText(context.Size)} get, 1 → 1 (transfer)", "MB/s", shoal, aria2MBps, "aria2", "≥ 4× aria2", ratio >= 4));
            }
            else
            {
                report.AppendLine();
                report.AppendLine("1to1 did not run in this invocation, so there is no Shoal/aria2 ratio (run `--scenario 1to1,aria2`).");
            }

            return report.ToString();
        }
        finally
        {
            Bench.TryDelete(dir);
        }
    }

    private static async Task<Run> RunOnceAsync(BenchContext context, string repo, string dir, string torrent, int trackerPort, int run, CancellationToken cancellationToken)
    {
        var leechDir = Path.Combine(dir, $"run{run}");
        try
        {
            using var tracker = await BtTracker.StartAsync(repo, "127.0.0.1", trackerPort, null, cancellationToken).ConfigureAwait(false);
            using var seed = Aria2.StartSeed("aria2-seed", torrent, context.SourcePath, "127.0.0.1", FreePort(), null);
            await tracker.WaitForSeedersAsync(1, AnnounceTimeout, [seed], cancellationToken).ConfigureAwait(false);

            var seedTicks = seed.CpuTicks();
            var clock = Stopwatch.StartNew();
            using var leech = Aria2.StartLeech("aria2-leech", torrent, Path.GetFileName(context.SourcePath), leechDir, "127.0.0.1", FreePort(), null, keepSeeding: false);
            var finish = await Aria2.WaitCompleteAsync(leech, clock, context.Timeout, context.ClockTicks, cancellationToken).ConfigureAwait(false);
            var seedCpu = (seed.CpuTicks() - seedTicks) / (double)context.ClockTicks;
            var exitSeconds = await Aria2.WaitExitAsync(leech, clock, cancellationToken).ConfigureAwait(false);
            await Scenario.VerifyAsync(context, leech.File, cancellationToken).ConfigureAwait(false);
            return new Run(finish.Seconds, exitSeconds, finish.CpuSeconds, seedCpu, finish.PeakRssBytes);
        }
        finally
        {
            Bench.TryDelete(leechDir);
        }
    }

    /// <summary>A port free on loopback now (aria2 and the tracker take a number, not 0).</summary>
    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
