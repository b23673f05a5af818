using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Shoal.Bench.Peers;

namespace Shoal.Bench;

/// <summary>
/// P3, a flash crowd: one seed and eight leechers, every uplink (the seed's too) capped at 100 Mbit/s by tc tbf in a
/// testbed of network namespaces, downlinks uncapped. All leechers start at once; the time until the last one has the
/// verified file is set against the fluid lower bound T* = max(F/u_seed, N·F/(u_seed + Σu_i)). Shoal: the leechers know
/// the seed and each other (<c>--peer</c>), so chunks can come from any of them; then aria2 in the same hosts (the
/// tracker on a tenth, uncapped host). Leechers of both keep serving after they finish. File: the source, at most 256 MiB.
/// </summary>
internal static class FlashScenario
{
    public const int Leechers = 8;
    public const string Rate = "100mbit";
    public const string Title = "flash: 1 seed + 8 leechers, every uplink 100 Mbit/s (tc tbf in network namespaces), all start at once (P3)";

    /// <summary>Every uplink, the seed's and each leecher's, in bytes per second: 100 Mbit/s.</summary>
    public const double UplinkBytesPerSecond = 100e6 / 8;

    public const long MaxSize = 256L << 20;

    private const int TrackerPort = 6969;

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    /// <param name="Finishes">Seconds from the common start until each leecher had the file, sorted.</param>
    /// <param name="FromLeechers">Of all chunk bytes the leechers received, the fraction that came from other leechers (Shoal only).</param>
    /// <param name="SeedUploads">What the seed sent, in file sizes (Shoal only; 1 is the least it can be).</param>
    private sealed record FlashRun(IReadOnlyList<double> Finishes, double? FromLeechers, double? SeedUploads)
    {
        public double Last => Finishes[^1];

        public double Median => Report.Median(Finishes);
    }

    /// <summary>The fluid lower bound in seconds for <paramref name="bytes"/>: no schedule can finish every leecher sooner.</summary>
    public static double FluidBound(long bytes) =>
        Math.Max(bytes / UplinkBytesPerSecond, Leechers * (double)bytes / (UplinkBytesPerSecond + (Leechers * UplinkBytesPerSecond)));

    public static async Task<string> RunAsync(BenchContext context, int runs, CancellationToken cancellationToken)
    {
        if (Netns.Unavailable() is { } unavailable) return $"not run: {unavailable}{Environment.NewLine}";
        var repo = Path.GetDirectoryName(context.Shoal)!;
        var aria2Missing = Aria2.Missing(repo);
        var dir = Path.Combine(context.WorkDir, "flash");
        Directory.CreateDirectory(dir);
        try
        {
            var source = await Swarm4Scenario.SourceOfSizeAsync(context, Math.Min(context.Size, MaxSize), dir, cancellationToken).ConfigureAwait(false);
            source = source with { Shoal = await Netns.ShoalSnapshotAsync(context, cancellationToken).ConfigureAwait(false) };
            // Host 1 the seed, 2-9 the leechers, 10 aria2's tracker (uncapped: its answers are no one's upload).
            using var testbed = await NetnsTestbed.CreateAsync(repo, Leechers + 2, cancellationToken).ConfigureAwait(false);
            for (var i = 1; i <= Leechers + 1; i++) await testbed.CapAsync(i, Rate, cancellationToken).ConfigureAwait(false);
            var trackerHost = testbed.Host(Leechers + 2);
            var torrent = aria2Missing is null
                ? await Aria2.MakeTorrentAsync(source.SourcePath, $"http://{trackerHost.Address}:{TrackerPort}/announce", Path.Combine(dir, "source.torrent"), cancellationToken).ConfigureAwait(false)
                : null;

            var bound = FluidBound(source.Size);
            var shoalRuns = new List<FlashRun>();
            var aria2Runs = new List<FlashRun>();
            for (var run = 1; run <= runs; run++)
            {
                Console.Out.WriteLine($"flash run {run}/{runs}: Shoal ...");
                var shoal = await ShoalOnceAsync(source, testbed, dir, run, cancellationToken).ConfigureAwait(false);
                shoalRuns.Add(shoal);
                Console.Out.WriteLine(Json("Shoal", run, source.Size, shoal, bound).ToJsonString());
                if (torrent is null) continue;
                Console.Out.WriteLine($"flash run {run}/{runs}: aria2 ...");
                var aria2 = await Aria2OnceAsync(source, repo, testbed, torrent, dir, run, cancellationToken).ConfigureAwait(false);
                aria2Runs.Add(aria2);
                Console.Out.WriteLine(Json("aria2", run, source.Size, aria2, bound).ToJsonString());
            }

            List<(string, Func<FlashRun, double>, string)> Rows(string system) =>
            [
                ($"{system}: last leecher done, s", r => r.Last, "F2"),
                ($"{system}: last / T*", r => r.Last / bound, "F2"),
                ($"{system}: median leecher done, s", r => r.Median, "F2"),
                ($"{system}: first leecher done, s", r => r.Finishes[0], "F2"),
            ];
            var report = new StringBuilder(Report.MedianTable(
                shoalRuns,
                [
                    .. Rows("Shoal"),
                    ("Shoal: chunk bytes leechers got from each other, % of all they got", r => 100 * r.FromLeechers!.Value, "F1"),
                    ("Shoal: the seed sent, × file size", r => r.SeedUploads!.Value, "F2"),
                ]));
            if (aria2Runs.Count > 0)
            {
                report.AppendLine();
                report.Append(Report.MedianTable(aria2Runs, Rows("aria2")));
            }

            report.AppendLine();
            report.AppendLine(
                $"F = {source.Size / (double)(1L << 20):0} MiB, N = {Leechers} leechers, u_seed = u_i = 100 Mbit/s (12.5 MB/s): " +
                $"**T\\* = max(F/u_seed, N·F/(u_seed + Σu_i)) = {bound:F2} s**; target: last leecher ≤ 1.25 × T\\* = {1.25 * bound:F2} s. " +
                $"Testbed {testbed.Name} (10.77.{testbed.Subnet}.0/24): host 1 the seed, hosts 2-9 the leechers, every eth0 egress capped by `tc tbf rate 100mbit burst 256kb latency 100ms`; " +
                "host 10 aria2's tracker, uncapped. tbf counts whole frames, so ~4 % of each uplink goes to TCP/IP and Ethernet headers: T\\* is on the raw rate. " +
                "Clock: from the moment all leechers are told to start (Shoal: every leecher connected to the seed and the 7 others first; aria2: the seed announced) " +
                "until each has the file (Shoal `completed`, polled every 100 ms; aria2's `--on-bt-download-complete` hook); every copy then checked by SHA-256. " +
                (aria2Missing is null ? "aria2 leechers keep seeding once done (`--seed-ratio=0.0`), as Shoal's nodes keep serving." : $"aria2 not run: {aria2Missing}"));

            var shoalLast = Report.Median(shoalRuns.Select(r => r.Last));
            Headlines.Add(new Headline("P3", $"flash crowd, 1 seed + {Leechers} leechers at 100 Mbit/s up: last leecher done", "s", shoalLast, bound, "fluid bound", "≤ 1.25× fluid bound", shoalLast <= 1.25 * bound));
            if (aria2Runs.Count > 0)
            {
                Headlines.Add(new Headline("P3", $"flash crowd, 1 seed + {Leechers} leechers: last leecher done, against aria2", "s", shoalLast, Report.Median(aria2Runs.Select(r => r.Last)), "aria2", "context", null));
            }

            return report.ToString();
        }
        finally
        {
            Bench.TryDelete(dir);
        }
    }

    private static JsonObject Json(string system, int run, long bytes, FlashRun result, double bound) => new()
    {
        ["scenario"] = "flash",
        ["system"] = system,
        ["run"] = run,
        ["bytes"] = bytes,
        ["finishSeconds"] = new JsonArray([.. result.Finishes.Select(f => (JsonNode?)Math.Round(f, 3))]),
        ["lastSeconds"] = Math.Round(result.Last, 3),
        ["fluidBoundSeconds"] = Math.Round(bound, 3),
        ["lastOverBound"] = Math.Round(result.Last / bound, 3),
        ["fromLeechers"] = result.FromLeechers is { } f ? Math.Round(f, 3) : null,
    };

    private static async Task<FlashRun> ShoalOnceAsync(BenchContext context, NetnsTestbed testbed, string dir, int run, CancellationToken cancellationToken)
    {
        var runDir = Path.Combine(dir, $"shoal-run{run}");
        var nodes = new List<NodeProcess>();
        // One list per leecher while they start concurrently (a List is not thread-safe); all disposed at the end.
        var started = Enumerable.Range(0, Leechers).Select(_ => new List<NodeProcess>()).ToArray();
        try
        {
            // A port of its own per run: the last run's sockets may linger in TIME_WAIT.
            var port = NetnsHost.DefaultPort + run;
            var seedHost = testbed.Host(1).WithPort(port);
            var seed = await Scenario.StartNodeAsync(context, runDir, "seed", null, [], nodes, cancellationToken, host: seedHost).ConfigureAwait(false);
            var invite = await Command.RunAsync(context.Shoal, ["invite", "--home", Path.Combine(runDir, "seed")], cancellationToken).ConfigureAwait(false);
            var shared = await seed.PostAsync("api/share", new JsonObject { ["paths"] = new JsonArray(context.SourcePath) }, cancellationToken).ConfigureAwait(false);
            var (link, fileId) = ((string)shared[0]!["link"]!, (string)shared[0]!["id"]!);

            // Every leecher gets the seed and all other leechers as --peer: whom it can fetch from is not left to discovery's timing.
            var hosts = Enumerable.Range(2, Leechers).Select(h => testbed.Host(h).WithPort(port)).ToArray();
            var leechers = await Task.WhenAll(hosts.Select((host, i) => Scenario.StartNodeAsync(
                context, runDir, $"leech{i + 1}", invite, [seedHost.Listen, .. hosts.Where(h => h != host).Select(h => h.Listen)], started[i], cancellationToken, host: host))).ConfigureAwait(false);
            foreach (var list in started) nodes.AddRange(list);
            await WaitReadyAsync(leechers, fileId, nodes, cancellationToken).ConfigureAwait(false);

            var clock = Stopwatch.StartNew();
            var finishes = await Task.WhenAll(leechers.Select((leecher, i) => DownloadAsync(context, leecher, link, Path.Combine(runDir, $"downloads{i + 1}"), clock, nodes, cancellationToken))).ConfigureAwait(false);

            long fromSeed = 0, fromLeechers = 0;
            foreach (var leecher in leechers)
            {
                foreach (var (name, bytes) in await Scenario.BytesPerPeerAsync(leecher, cancellationToken).ConfigureAwait(false))
                {
                    if (name == "seed") fromSeed += bytes;
                    else fromLeechers += bytes;
                }
            }

            foreach (var (_, path) in finishes) await Scenario.VerifyAsync(context, path, cancellationToken).ConfigureAwait(false);
            var received = fromSeed + fromLeechers;
            return new FlashRun([.. finishes.Select(f => f.Seconds).Order()], received == 0 ? 0 : fromLeechers / (double)received, fromSeed / (double)context.Size);
        }
        finally
        {
            foreach (var node in nodes.Concat(started.SelectMany(l => l)).Distinct()) node.Dispose();
            Bench.TryDelete(runDir);
        }
    }

    /// <summary>Each leecher sees the seed holding the file and is linked to the seed and the 7 other leechers.</summary>
    private static async Task WaitReadyAsync(IReadOnlyList<NodeProcess> leechers, string fileId, List<NodeProcess> nodes, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var waiting = new List<string>();
            foreach (var leecher in leechers)
            {
                var files = await leecher.GetAsync("api/files", cancellationToken).ConfigureAwait(false);
                var sources = files.AsArray().Where(f => (string?)f?["id"] == fileId).Select(f => (int)f!["sources"]!).FirstOrDefault();
                var online = (int)(await leecher.GetAsync("api/status", cancellationToken).ConfigureAwait(false))["peersOnline"]!;
                if (sources < 1 || online < Leechers) waiting.Add($"{leecher.Name} ({sources} sources, {online} peers online)");
            }

            if (waiting.Count == 0) return;
            foreach (var node in nodes) node.ThrowIfExited("while the leechers were connecting");
            if (clock.Elapsed > ReadyTimeout)
            {
                throw new BenchException($"after {ReadyTimeout.TotalSeconds:0} s not every leecher is linked to the seed and the others: {string.Join(", ", waiting)}");
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One leecher's download: the seconds from the common start until it was completed, and where the file is.</summary>
    private static async Task<(double Seconds, string Path)> DownloadAsync(
        BenchContext context, NodeProcess leecher, string link, string downloads, Stopwatch clock, List<NodeProcess> nodes, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(downloads);
        var id = (string)(await leecher.PostAsync("api/downloads", new JsonObject { ["link"] = link, ["directory"] = downloads }, cancellationToken).ConfigureAwait(false))["id"]!;
        while (true)
        {
            var transfer = await leecher.GetAsync($"api/downloads/{id}", cancellationToken).ConfigureAwait(false);
            var state = (string?)transfer["state"];
            if (state == "completed") return (clock.Elapsed.TotalSeconds, (string?)transfer["path"] ?? "");
            if (state is "failed" or "cancelled") throw new BenchException($"{leecher.Name}'s download {state}: {(string?)transfer["error"]}{Environment.NewLine}{leecher.Tail()}");
            foreach (var node in nodes) node.ThrowIfExited("during the flash crowd");
            if (clock.Elapsed > context.Timeout)
            {
                throw new BenchException(
                    $"{leecher.Name} is stuck: not complete after {context.Timeout.TotalSeconds:0} s ({(long?)transfer["verifiedBytes"]} of {(long?)transfer["size"]} bytes verified){Environment.NewLine}{leecher.Tail()}");
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<FlashRun> Aria2OnceAsync(
        BenchContext context, string repo, NetnsTestbed testbed, string torrent, string dir, int run, CancellationToken cancellationToken)
    {
        var runDir = Path.Combine(dir, $"aria2-run{run}");
        var trackerHost = testbed.Host(Leechers + 2);
        var port = Aria2.Port + run;
        var leeches = new List<Aria2Leech>();
        try
        {
            using var tracker = await BtTracker.StartAsync(repo, trackerHost.Address, TrackerPort, trackerHost.Namespace, cancellationToken).ConfigureAwait(false);
            var seedHost = testbed.Host(1);
            using var seed = Aria2.StartSeed("aria2-seed", torrent, context.SourcePath, seedHost.Address, port, seedHost.Namespace);
            await tracker.WaitForSeedersAsync(1, ReadyTimeout, [seed], cancellationToken).ConfigureAwait(false);

            var clock = Stopwatch.StartNew();
            var name = Path.GetFileName(context.SourcePath);
            for (var i = 1; i <= Leechers; i++)
            {
                var host = testbed.Host(i + 1);
                leeches.Add(Aria2.StartLeech($"aria2-leech{i}", torrent, name, Path.Combine(runDir, $"leech{i}"), host.Address, port, host.Namespace, keepSeeding: true));
            }

            var finishes = await Task.WhenAll(leeches.Select(l => Aria2.WaitCompleteAsync(l, clock, context.Timeout, context.ClockTicks, cancellationToken))).ConfigureAwait(false);
            foreach (var leech in leeches) await Scenario.VerifyAsync(context, leech.File, cancellationToken).ConfigureAwait(false);
            return new FlashRun([.. finishes.Select(f => f.Seconds).Order()], null, null);
        }
        finally
        {
            foreach (var leech in leeches) leech.Dispose();
            Bench.TryDelete(runDir);
        }
    }
}
