using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Shoal.Storage;

namespace Shoal.Bench;

/// <summary>
/// Synced folder, A → B on loopback, measured as a user sees it: files dropped into A's folder until they are
/// complete (and checked) in B's folder: 1000 files of 4 KiB (twice: fresh nodes, then warmed up), one big file, one
/// byte inserted at the start of the big file, and the latency from a small change on A to the same bytes on B.
/// The syncthing scenario times Syncthing with the same methods (<see cref="SmallFilesAsync"/>,
/// <see cref="ChangeLatencyAsync"/>); when it ran first, the table sets its figures beside Shoal's.
/// </summary>
internal static class FolderScenario
{
    private const int SmallFileSize = 4096;

    /// <summary>1000 files per batch; 200 with --quick (the CI smoke run).</summary>
    internal static int SmallFiles(BenchContext context) => context.Quick ? 200 : 1000;

    /// <summary>30 change-latency samples; 5 with --quick.</summary>
    internal static int LatencySamples(BenchContext context) => context.Quick ? 5 : 30;

    public static async Task<string> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var dir = Path.Combine(context.WorkDir, "folder");
        Directory.CreateDirectory(dir);
        var nodes = new List<NodeProcess>();
        try
        {
            var a = await Scenario.StartNodeAsync(context, dir, "a", null, [], nodes, cancellationToken).ConfigureAwait(false);
            var invite = await Command.RunAsync(context.Shoal, ["invite", "--home", Path.Combine(dir, "a")], cancellationToken).ConfigureAwait(false);
            var b = await Scenario.StartNodeAsync(context, dir, "b", invite, [a.ListenAddress], nodes, cancellationToken).ConfigureAwait(false);
            await WaitAsync(async () => (await b.GetAsync("api/status", cancellationToken).ConfigureAwait(false))["peersOnline"]!.GetValue<int>() > 0, "B to connect to A", context.Timeout, cancellationToken).ConfigureAwait(false);
            var folderA = Path.Combine(dir, "a", "folder");
            var folderB = Path.Combine(dir, "b", "folder");

            // The first batch is the node's first work since it started (the runtime still compiles code as it goes);
            // the second shows a node that has been running.
            var smallFiles = SmallFiles(context);
            var (smallSeconds, creatingSeconds) = await SmallFilesAsync(dir, folderA, folderB, "small", smallFiles, context.Timeout, cancellationToken).ConfigureAwait(false);
            var (smallWarmSeconds, _) = await SmallFilesAsync(dir, folderA, folderB, "small-again", smallFiles, context.Timeout, cancellationToken).ConfigureAwait(false);

            // The big file: moved in (same file system) so the clock covers scan, hashing, transfer and the final rename.
            var clock = Stopwatch.StartNew();
            File.Move(context.SourcePath, Path.Combine(folderA, "big.bin"));
            var bigOnB = Path.Combine(folderB, "big.bin");
            await WaitAsync(() => Task.FromResult(File.Exists(bigOnB) && new FileInfo(bigOnB).Length == context.Size), "B to have the big file", context.Timeout, cancellationToken).ConfigureAwait(false);
            var bigSeconds = clock.Elapsed.TotalSeconds;
            await using (var stream = File.OpenRead(bigOnB))
            {
                if (!(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false)).AsSpan().SequenceEqual(context.SourceHash)) throw new BenchException("the big file differs on B");
            }

            var (insertSeconds, insertResent) = await InsertOneByteAsync(context, dir, b, Path.Combine(folderA, "big.bin"), bigOnB, cancellationToken).ConfigureAwait(false);

            // Change → peer: a small file rewritten on A, timed until B's copy has the new bytes.
            var samples = LatencySamples(context);
            var latencies = await ChangeLatencyAsync(folderA, folderB, samples, context.Timeout, cancellationToken).ConfigureAwait(false);
            var (p50, p95) = (Percentile(latencies, 0.5), Percentile(latencies, 0.95));

            // Syncthing's figures: measured by the syncthing scenario earlier in this invocation, else PEERS.md's (1 GiB,
            // another day, another load: context only, so no headline compares with them).
            var peer = SyncthingScenario.Measured;
            var files = $"{smallFiles} × 4 KiB";
            var size = Report.SizeText(context.Size);
            var (peerSmall, peerWarm, peerBig) = peer is null ? (856, 856, 218) : (peer.SmallFilesPerSecond, peer.WarmFilesPerSecond, peer.BigMBps);
            var report = new StringBuilder();
            report.AppendLine(peer is null
                ? "| measure | Shoal | Syncthing (PEERS.md, not measured in this run) | ratio |"
                : $"| measure | Shoal | Syncthing (measured in this run: {peer.Version}, median of {peer.Runs}) | ratio |");
            report.AppendLine("| --- | --- | --- | --- |");
            var filesPerSecond = smallFiles / smallSeconds;
            report.AppendLine(CultureInfo.InvariantCulture, $"| {files}, drop into A → all on B (first work of fresh nodes) | {smallSeconds:F2} s = {filesPerSecond:F0} files/s | {peerSmall:F0} files/s | {filesPerSecond / peerSmall:F1}× |");
            var warmFilesPerSecond = smallFiles / smallWarmSeconds;
            report.AppendLine(CultureInfo.InvariantCulture, $"| another {files} (nodes warmed up) | {smallWarmSeconds:F2} s = {warmFilesPerSecond:F0} files/s | {peerWarm:F0} files/s | {warmFilesPerSecond / peerWarm:F1}× |");
            // On ext4 without a journal, a directory whose block group saw many recent deletions makes every new inode
            // costly (the allocator skips recently deleted ones); this row shows how much that weighs here.
            report.AppendLine(CultureInfo.InvariantCulture, $"| for context: the bench writing the first {files} into its staging directory (no fsync) | {creatingSeconds:F2} s = {smallFiles / creatingSeconds:F0} files/s | | |");
            var mbps = context.Size / bigSeconds / 1e6;
            report.AppendLine(CultureInfo.InvariantCulture, $"| {size} file, move into A → complete on B | {bigSeconds:F2} s = {mbps:F0} MB/s | {peerBig:F0} MB/s | {mbps / peerBig:F2}× |");
            var resentPercent = 100.0 * insertResent / context.Size;
            report.AppendLine(CultureInfo.InvariantCulture, $"| 1 byte inserted at the start of the {size} file → same bytes on B | {insertSeconds:F2} s; {insertResent / 1e6:F1} MB re-sent = {resentPercent:F2} % of the file | | |");
            report.Append(CultureInfo.InvariantCulture, $"| change on A → same bytes on B ({samples} samples) | p50 {p50:F0} ms, p95 {p95:F0} ms, max {latencies[^1]:F0} ms | ");
            report.AppendLine(peer is null ? "| |" : string.Create(CultureInfo.InvariantCulture, $"p50 {peer.LatencyP50:F0} ms, p95 {peer.LatencyP95:F0} ms | p50 {p50 / peer.LatencyP50:F2}× |"));

            var peerName = peer is null ? "" : "Syncthing";
            bool? AtLeast(double shoal, double? other, double factor) => other is null ? null : shoal >= factor * other;
            Headlines.Add(new Headline("P1", $"{size} file moved into a synced folder → complete on B", "MB/s", mbps, peer?.BigMBps, peerName, "context", null));
            Headlines.Add(new Headline("P4", $"{files} folder sync A → B, fresh nodes", "files/s", filesPerSecond, peer?.SmallFilesPerSecond, peerName, "≥ 5× Syncthing", AtLeast(filesPerSecond, peer?.SmallFilesPerSecond, 5)));
            Headlines.Add(new Headline("P4", $"{files} folder sync A → B, nodes warmed up", "files/s", warmFilesPerSecond, peer?.WarmFilesPerSecond, peerName, "≥ 5× Syncthing", AtLeast(warmFilesPerSecond, peer?.WarmFilesPerSecond, 5)));
            Headlines.Add(new Headline("P5", $"change on A → same bytes on B, p50 of {samples}", "ms", p50, peer?.LatencyP50, peerName, "p50 < 300 ms", p50 < 300));
            Headlines.Add(new Headline("P5", $"change on A → same bytes on B, p95 of {samples}", "ms", p95, peer?.LatencyP95, peerName, "context", null));
            Headlines.Add(new Headline("P7", $"1-byte insert at the start of the {size} synced file: bytes re-sent", "%", resentPercent, null, "", "< 1 % of the file", resentPercent < 1));
            return report.ToString();
        }
        finally
        {
            foreach (var node in nodes) node.Dispose();
            Bench.TryDelete(dir);
        }
    }

    /// <summary>
    /// One byte inserted at the start of the big file on A, saved as editors save (a new file renamed over the old
    /// one). Content-defined chunking finds the old chunk boundaries again after the first chunk, so B should copy
    /// nearly everything from its own copy and fetch only the first chunk or two. Returns the time until B has the
    /// new bytes and what B received meanwhile. The original content goes back to the bench's source path (a hard
    /// link, no copy), and the edited file is deleted from the folder afterwards.
    /// </summary>
    private static async Task<(double Seconds, long Resent)> InsertOneByteAsync(
        BenchContext context, string dir, NodeProcess b, string bigOnA, string bigOnB, CancellationToken cancellationToken)
    {
        if (!DurableFileSystem.TryCreateHardLink(bigOnA, context.SourcePath)) throw new BenchException("the work directory's file system cannot hard-link the big file back to the source path");
        var edited = Path.Combine(dir, "big-edited.bin");
        byte[] editedHash;
        using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            await using var output = new FileStream(edited, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
            await using var input = new FileStream(context.SourcePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            output.WriteByte(0x2A);
            hash.AppendData([0x2A]);
            var buffer = new byte[1 << 20];
            int read;
            while ((read = await input.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            }

            editedHash = hash.GetHashAndReset();
        }

        var before = await ReceivedAsync(b, cancellationToken).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        File.Move(edited, bigOnA, overwrite: true);
        await WaitAsync(() => Task.FromResult(File.Exists(bigOnB) && new FileInfo(bigOnB).Length == context.Size + 1), "B to have the edited big file", context.Timeout, cancellationToken).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        var resent = await ReceivedAsync(b, cancellationToken).ConfigureAwait(false) - before;
        await using (var stream = File.OpenRead(bigOnB))
        {
            if (!(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false)).AsSpan().SequenceEqual(editedHash)) throw new BenchException("the edited big file differs on B");
        }

        File.Delete(bigOnA);
        return (seconds, resent);
    }

    private static async Task<long> ReceivedAsync(NodeProcess node, CancellationToken cancellationToken) =>
        (await node.GetAsync("api/status", cancellationToken).ConfigureAwait(false))["downloadedBytes"]!.GetValue<long>();

    /// <summary>
    /// <paramref name="count"/> files of 4 KiB written into a staging directory, then moved into A's folder in one
    /// rename (as a copy would land); timed until all are on B, then compared. <paramref name="changed"/> hears of the
    /// new directory (its path in the folder) right after the rename.
    /// </summary>
    /// <returns>The time until B had them all, and the time it took to write them into the staging directory (not timed
    /// as sync: it says what creating that many files costs on this file system, which B has to do too).</returns>
    internal static async Task<(double Seconds, double CreatingSeconds)> SmallFilesAsync(
        string dir, string folderA, string folderB, string name, int count, TimeSpan timeout, CancellationToken cancellationToken, Action<string>? changed = null)
    {
        var staging = Path.Combine(dir, "staging-" + name);
        Directory.CreateDirectory(staging);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++) await File.WriteAllBytesAsync(Path.Combine(staging, $"f{i:D4}.bin"), RandomNumberGenerator.GetBytes(SmallFileSize), cancellationToken).ConfigureAwait(false);
        var creating = clock.Elapsed.TotalSeconds;
        clock.Restart();
        Directory.Move(staging, Path.Combine(folderA, name));
        changed?.Invoke(name);
        await WaitAsync(() => Task.FromResult(CountFiles(Path.Combine(folderB, name)) == count), $"B to have the {count} files of {name}", timeout, cancellationToken).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        var mismatched = Directory.EnumerateFiles(Path.Combine(folderA, name)).Count(f => !File.ReadAllBytes(f).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(folderB, name, Path.GetFileName(f)))));
        if (mismatched > 0) throw new BenchException($"{mismatched} files of {name} differ on B");
        return (seconds, creating);
    }

    /// <summary>
    /// Change → peer: a small file rewritten on A <paramref name="samples"/> times, each timed until B's copy has the
    /// new bytes (polled every millisecond). <paramref name="changed"/> hears of each write right after it. Sorted, in ms.
    /// </summary>
    internal static async Task<List<double>> ChangeLatencyAsync(
        string folderA, string folderB, int samples, TimeSpan timeout, CancellationToken cancellationToken, Action<string>? changed = null)
    {
        var latencies = new List<double>();
        var probeA = Path.Combine(folderA, "probe.txt");
        var probeB = Path.Combine(folderB, "probe.txt");
        var clock = new Stopwatch();
        for (var i = 0; i < samples; i++)
        {
            var text = $"change {i} {Guid.NewGuid()}";
            clock.Restart();
            await File.WriteAllTextAsync(probeA, text, cancellationToken).ConfigureAwait(false);
            changed?.Invoke("probe.txt");
            await WaitAsync(() => Task.FromResult(ReadOrNull(probeB) == text), "B to see the change", timeout, cancellationToken, TimeSpan.FromMilliseconds(1)).ConfigureAwait(false);
            latencies.Add(clock.Elapsed.TotalMilliseconds);
        }

        latencies.Sort();
        return latencies;
    }

    internal static double Percentile(IReadOnlyList<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    /// <summary>Hidden names are the syncing tools' temporary files (.shoal-tmp.*, .syncthing.*.tmp), not yet the file.</summary>
    private static int CountFiles(string dir) => Directory.Exists(dir) ? Directory.EnumerateFiles(dir).Count(f => !Path.GetFileName(f).StartsWith('.')) : 0;

    private static string? ReadOrNull(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
    }

    internal static async Task WaitAsync(Func<Task<bool>> condition, string what, TimeSpan timeout, CancellationToken cancellationToken, TimeSpan? interval = null)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition().ConfigureAwait(false))
        {
            if (clock.Elapsed > timeout) throw new BenchException($"timed out waiting for {what}");
            await Task.Delay(interval ?? TimeSpan.FromMilliseconds(5), cancellationToken).ConfigureAwait(false);
        }
    }
}
