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
/// </summary>
internal static class FolderScenario
{
    private const int SmallFiles = 1000;
    private const int SmallFileSize = 4096;
    private const int LatencySamples = 30;

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
            var smallSeconds = await SmallFilesAsync(dir, folderA, folderB, "small", context.Timeout, cancellationToken).ConfigureAwait(false);
            var smallWarmSeconds = await SmallFilesAsync(dir, folderA, folderB, "small-again", context.Timeout, cancellationToken).ConfigureAwait(false);

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
            var latencies = new List<double>();
            var probeA = Path.Combine(folderA, "probe.txt");
            var probeB = Path.Combine(folderB, "probe.txt");
            for (var i = 0; i < LatencySamples; i++)
            {
                var text = $"change {i} {Guid.NewGuid()}";
                clock.Restart();
                await File.WriteAllTextAsync(probeA, text, cancellationToken).ConfigureAwait(false);
                await WaitAsync(() => Task.FromResult(ReadOrNull(probeB) == text), "B to see the change", context.Timeout, cancellationToken, TimeSpan.FromMilliseconds(1)).ConfigureAwait(false);
                latencies.Add(clock.Elapsed.TotalMilliseconds);
            }

            latencies.Sort();
            var report = new StringBuilder();
            report.AppendLine("| measure | Shoal | Syncthing (PEERS.md) | ratio |");
            report.AppendLine("| --- | --- | --- | --- |");
            var filesPerSecond = SmallFiles / smallSeconds;
            report.AppendLine(CultureInfo.InvariantCulture, $"| 1000 × 4 KiB, drop into A → all on B (first work of fresh nodes) | {smallSeconds:F2} s = {filesPerSecond:F0} files/s | 856 files/s | {filesPerSecond / 856:F1}× |");
            var warmFilesPerSecond = SmallFiles / smallWarmSeconds;
            report.AppendLine(CultureInfo.InvariantCulture, $"| another 1000 × 4 KiB (nodes warmed up) | {smallWarmSeconds:F2} s = {warmFilesPerSecond:F0} files/s | 856 files/s | {warmFilesPerSecond / 856:F1}× |");
            var mbps = context.Size / bigSeconds / 1e6;
            report.AppendLine(CultureInfo.InvariantCulture, $"| {context.Size / (double)(1L << 30):0.##} GiB file, move into A → complete on B | {bigSeconds:F2} s = {mbps:F0} MB/s | 218 MB/s | {mbps / 218:F2}× |");
            report.AppendLine(CultureInfo.InvariantCulture, $"| 1 byte inserted at the start of the {context.Size / (double)(1L << 30):0.##} GiB file → same bytes on B | {insertSeconds:F2} s; {insertResent / 1e6:F1} MB re-sent = {100.0 * insertResent / context.Size:F2} % of the file | | |");
            report.AppendLine(CultureInfo.InvariantCulture, $"| change on A → same bytes on B ({LatencySamples} samples) | p50 {Percentile(latencies, 0.5):F0} ms, p95 {Percentile(latencies, 0.95):F0} ms, max {latencies[^1]:F0} ms | | |");
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

    /// <summary>1000 files of 4 KiB written into a staging directory, then moved into A's folder in one rename (as a copy would land); timed until all are on B, then compared.</summary>
    private static async Task<double> SmallFilesAsync(string dir, string folderA, string folderB, string name, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var staging = Path.Combine(dir, "staging-" + name);
        Directory.CreateDirectory(staging);
        for (var i = 0; i < SmallFiles; i++) await File.WriteAllBytesAsync(Path.Combine(staging, $"f{i:D4}.bin"), RandomNumberGenerator.GetBytes(SmallFileSize), cancellationToken).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        Directory.Move(staging, Path.Combine(folderA, name));
        await WaitAsync(() => Task.FromResult(CountFiles(Path.Combine(folderB, name)) == SmallFiles), $"B to have the 1000 files of {name}", timeout, cancellationToken).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        var mismatched = Directory.EnumerateFiles(Path.Combine(folderA, name)).Count(f => !File.ReadAllBytes(f).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(folderB, name, Path.GetFileName(f)))));
        if (mismatched > 0) throw new BenchException($"{mismatched} files of {name} differ on B");
        return seconds;
    }

    internal static double Percentile(IReadOnlyList<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    private static int CountFiles(string dir) => Directory.Exists(dir) ? Directory.EnumerateFiles(dir).Count(f => !Path.GetFileName(f).StartsWith(".shoal-tmp.", StringComparison.Ordinal)) : 0;

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
