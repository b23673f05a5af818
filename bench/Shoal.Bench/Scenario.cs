using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Shoal.Bench;

/// <summary>
/// What one node cost during the transfer. BytesToSink: what the sink received from this seed. AtMaxSample: the sample
/// of /proc/PID/status with the largest VmRSS (what the memory was made of then).
/// </summary>
internal sealed record NodeMeasure(string Name, double CpuSeconds, long PeakRssBytes, long MaxSampledRssBytes, long? BytesToSink, RssSample? AtMaxSample = null);

internal sealed record RunResult(string Scenario, int Run, long Bytes, double ShareSeconds, double TransferSeconds, IReadOnlyList<NodeMeasure> Nodes)
{
    public double MBps => Bytes / TransferSeconds / 1e6;

    public double MiBps => Bytes / TransferSeconds / (1 << 20);

    /// <summary>From the first seed's share to the verified file on the sink: what a user waits for (P1's end-to-end figure).</summary>
    public double EndToEndMBps => Bytes / (ShareSeconds + TransferSeconds) / 1e6;

    public double CpuPerGiB(double cpuSeconds) => cpuSeconds / (Bytes / (double)(1L << 30));

    public JsonObject ToJson()
    {
        var nodes = new JsonArray();
        foreach (var n in Nodes)
        {
            nodes.Add(new JsonObject
            {
                ["name"] = n.Name,
                ["cpuSeconds"] = Math.Round(n.CpuSeconds, 3),
                ["cpuSecondsPerGiB"] = Math.Round(CpuPerGiB(n.CpuSeconds), 3),
                ["peakRssBytes"] = n.PeakRssBytes,
                ["maxSampledRssBytes"] = n.MaxSampledRssBytes,
                ["atMaxSample"] = n.AtMaxSample is { } s ? new JsonObject { ["rssAnonBytes"] = s.RssAnon, ["rssFileBytes"] = s.RssFile, ["rssShmemBytes"] = s.RssShmem } : null,
                ["bytesToSink"] = n.BytesToSink,
            });
        }

        return new JsonObject
        {
            ["scenario"] = Scenario,
            ["run"] = Run,
            ["bytes"] = Bytes,
            ["shareSeconds"] = Math.Round(ShareSeconds, 3),
            ["transferSeconds"] = Math.Round(TransferSeconds, 3),
            ["mbPerSecond"] = Math.Round(MBps, 1),
            ["mibPerSecond"] = Math.Round(MiBps, 1),
            ["cpuSecondsPerGiB"] = Math.Round(CpuPerGiB(Nodes.Sum(n => n.CpuSeconds)), 3),
            ["nodes"] = nodes,
        };
    }
}

/// <summary>Everything a run needs from the surrounding benchmark. Quick: --quick, fewer files and samples (the CI smoke run).</summary>
internal sealed record BenchContext(string Shoal, string WorkDir, string SourcePath, byte[] SourceHash, long Size, TimeSpan Timeout, int ClockTicks, bool Quick = false);

/// <summary>
/// One run of "N seeds, one sink": fresh homes, the seeds share the source file in place, the sink downloads it through
/// the REST API while the bench samples each node's CPU and memory. Ends by killing every node and deleting the homes.
/// </summary>
internal static class Scenario
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(25);
    private static readonly TimeSpan RssInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan SourcesTimeout = TimeSpan.FromSeconds(60);

    public static async Task<RunResult> RunAsync(BenchContext context, string scenario, int seedCount, int run, CancellationToken cancellationToken)
    {
        var dir = Path.Combine(context.WorkDir, $"{scenario}-run{run}");
        Directory.CreateDirectory(dir);
        var nodes = new List<NodeProcess>();
        try
        {
            var seeds = new List<NodeProcess>();
            string? invite = null;
            for (var i = 1; i <= seedCount; i++)
            {
                var name = seedCount == 1 ? "seed" : $"seed{i}";
                var seed = await StartNodeAsync(context, dir, name, invite, [], nodes, cancellationToken).ConfigureAwait(false);
                seeds.Add(seed);
                invite ??= await Command.RunAsync(context.Shoal, ["invite", "--home", Path.Combine(dir, name)], cancellationToken).ConfigureAwait(false);
            }

            // Every seed indexes the same path, so they all offer the same id. The first seed's time is the one reported.
            var shareSeconds = new List<double>();
            var link = "";
            var fileId = "";
            foreach (var seed in seeds)
            {
                var clock = Stopwatch.StartNew();
                var shared = await seed.PostAsync("api/share", new JsonObject { ["paths"] = new JsonArray(context.SourcePath) }, cancellationToken).ConfigureAwait(false);
                shareSeconds.Add(clock.Elapsed.TotalSeconds);
                link = (string)shared[0]!["link"]!;
                fileId = (string)shared[0]!["id"]!;
            }

            // The invite brings the first seed; the others are named explicitly, there being no discovery.
            var sink = await StartNodeAsync(context, dir, "sink", invite, [.. seeds.Skip(1).Select(s => s.ListenAddress)], nodes, cancellationToken).ConfigureAwait(false);
            await WaitForSourcesAsync(sink, fileId, seedCount, nodes, cancellationToken).ConfigureAwait(false);

            var downloads = Path.Combine(dir, "downloads");
            Directory.CreateDirectory(downloads);
            var ticksBefore = nodes.Select(n => n.CpuTicks()).ToArray();
            using var stopSampling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var sampling = SampleRssAsync(nodes, stopSampling.Token);

            var transferClock = Stopwatch.StartNew();
            var started = await sink.PostAsync("api/downloads", new JsonObject { ["link"] = link, ["directory"] = downloads }, cancellationToken).ConfigureAwait(false);
            var final = await WaitForCompletionAsync(context, sink, (string)started["id"]!, transferClock, nodes, cancellationToken).ConfigureAwait(false);
            var transferSeconds = transferClock.Elapsed.TotalSeconds;
            var ticksAfter = nodes.Select(n => n.CpuTicks()).ToArray();
            var peaks = nodes.Select(n => n.StatusBytes("VmHWM")).ToArray();
            await stopSampling.CancelAsync().ConfigureAwait(false);
            var sampledMax = await sampling.ConfigureAwait(false);

            var bytesFrom = await BytesPerPeerAsync(sink, cancellationToken).ConfigureAwait(false);
            await VerifyAsync(context, (string?)final["path"], cancellationToken).ConfigureAwait(false);

            var measures = nodes.Select((n, i) => new NodeMeasure(
                n.Name,
                (ticksAfter[i] - ticksBefore[i]) / (double)context.ClockTicks,
                peaks[i],
                sampledMax[i].VmRss,
                n == sink ? null : bytesFrom.GetValueOrDefault(n.Name),
                sampledMax[i])).ToList();
            return new RunResult(scenario, run, context.Size, shareSeconds[0], transferSeconds, measures);
        }
        finally
        {
            foreach (var node in nodes) node.Dispose();
            Bench.TryDelete(dir);
        }
    }

    internal static async Task<NodeProcess> StartNodeAsync(
        BenchContext context, string dir, string name, string? invite, IReadOnlyList<string> peers, List<NodeProcess> nodes, CancellationToken cancellationToken, IEnumerable<string>? extraArgs = null, NetnsHost? host = null)
    {
        var home = Path.Combine(dir, name);
        string[] init = invite is null ? ["init", "--home", home, "--name", name] : ["init", "--home", home, "--name", name, "--join", invite];
        await Command.RunAsync(context.Shoal, init, cancellationToken).ConfigureAwait(false);
        var node = NodeProcess.Start(context.Shoal, name, home, peers, extraArgs, host);
        nodes.Add(node);
        await node.WaitUntilUpAsync(home, cancellationToken).ConfigureAwait(false);
        return node;
    }

    /// <summary>The clock starts only once the sink is connected to every seed and has their inventories.</summary>
    internal static async Task WaitForSourcesAsync(NodeProcess sink, string fileId, int seedCount, List<NodeProcess> nodes, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var sources = 0;
        while (true)
        {
            var files = await sink.GetAsync("api/files", cancellationToken).ConfigureAwait(false);
            sources = files.AsArray().Where(f => (string?)f?["id"] == fileId).Select(f => (int)f!["sources"]!).FirstOrDefault();
            if (sources >= seedCount) return;
            foreach (var node in nodes) node.ThrowIfExited("while the sink was connecting");
            if (clock.Elapsed > SourcesTimeout)
            {
                throw new BenchException($"the sink sees {sources} of {seedCount} seeds holding the file after {SourcesTimeout.TotalSeconds:0} s{Environment.NewLine}{sink.Tail()}");
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    internal static async Task<JsonNode> WaitForCompletionAsync(
        BenchContext context, NodeProcess sink, string transferId, Stopwatch clock, List<NodeProcess> nodes, CancellationToken cancellationToken)
    {
        while (true)
        {
            var transfer = await sink.GetAsync($"api/downloads/{transferId}", cancellationToken).ConfigureAwait(false);
            var state = (string?)transfer["state"];
            if (state == "completed") return transfer;
            if (state is "failed" or "cancelled") throw new BenchException($"the download {state}: {(string?)transfer["error"]}{Environment.NewLine}{sink.Tail()}");
            foreach (var node in nodes) node.ThrowIfExited("during the transfer");
            if (clock.Elapsed > context.Timeout)
            {
                throw new BenchException(
                    $"the transfer is stuck: not complete after {context.Timeout.TotalSeconds:0} s (state {state}, " +
                    $"{(long?)transfer["verifiedBytes"]} of {(long?)transfer["size"]} bytes verified, {(int?)transfer["sources"]} sources){Environment.NewLine}{sink.Tail()}");
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>VmHWM covers the whole life of the process (a seed's includes indexing); this sees the transfer only.</summary>
    private static async Task<RssSample[]> SampleRssAsync(List<NodeProcess> nodes, CancellationToken stop)
    {
        var max = nodes.Select(_ => RssSample.None).ToArray();
        while (!stop.IsCancellationRequested)
        {
            for (var i = 0; i < nodes.Count; i++)
            {
                try
                {
                    var sample = RssSample.Read(nodes[i].Pid);
                    if (sample.VmRss > max[i].VmRss) max[i] = sample;
                }
                catch (Exception e) when (e is IOException or BenchException)
                {
                    // The node died; the transfer loop reports that with its output.
                }
            }

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

    internal static async Task<Dictionary<string, long>> BytesPerPeerAsync(NodeProcess sink, CancellationToken cancellationToken)
    {
        var peers = await sink.GetAsync("api/peers", cancellationToken).ConfigureAwait(false);
        return peers.AsArray()
            .Where(p => p is not null)
            .GroupBy(p => (string)p!["name"]!)
            .ToDictionary(g => g.Key, g => g.Sum(p => (long)p!["downloadedBytes"]!));
    }

    internal static async Task VerifyAsync(BenchContext context, string? path, CancellationToken cancellationToken)
    {
        if (path is null || !File.Exists(path)) throw new BenchException($"the download completed but its file '{path}' does not exist");
        var length = new FileInfo(path).Length;
        if (length != context.Size) throw new BenchException($"the downloaded file has {length} bytes, the source {context.Size}");
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        var hash = await SHA256.HashDataAsync(file, cancellationToken).ConfigureAwait(false);
        if (!hash.AsSpan().SequenceEqual(context.SourceHash))
        {
            throw new BenchException($"the downloaded file's SHA-256 {Convert.ToHexStringLower(hash)} differs from the source's {Convert.ToHexStringLower(context.SourceHash)}");
        }
    }
}
