using System.Diagnostics;
using System.Globalization;

namespace Shoal.Bench.Peers;

/// <summary>
/// aria2 (Debian's <c>aria2c</c> 1.36) as a BitTorrent seed or leecher, one process each, with a torrent made by
/// <c>mktorrent</c> and the npm tracker (<see cref="BtTracker"/>). DHT, local peer discovery, peer exchange and IPv6 are
/// off, so peers come from the tracker only; <c>--bt-external-ip</c> is the address the others should dial.
/// </summary>
internal static class Aria2
{
    public const int Port = 6881;

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(25);
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(60);

    /// <summary>What is missing to run aria2 scenarios, or null when everything is installed.</summary>
    public static string? Missing(string repo)
    {
        var missing = new[] { "aria2c", "mktorrent" }.Where(p => !Netns.OnPath(p)).ToList();
        if (BtTracker.Script(repo) is null) missing.Add("the npm bittorrent-tracker in bench/.peers");
        return missing.Count == 0 ? null : $"{string.Join(", ", missing)} not installed (bench/run installs them: apt-get install -y aria2 mktorrent; cd bench/.peers && npm install --ignore-scripts bittorrent-tracker@9.19.0)";
    }

    /// <summary>
    /// A single-file torrent of <paramref name="file"/> announcing to <paramref name="announce"/>, named as the file.
    /// Pieces of 2^n bytes, 32 KiB to 16 MiB, about 1000 of them (1 MiB for 1 GiB, 256 KiB for 256 MiB), as clients pick.
    /// </summary>
    public static async Task<string> MakeTorrentAsync(string file, string announce, string torrent, CancellationToken cancellationToken)
    {
        var size = new FileInfo(file).Length;
        var exponent = 15;
        while (exponent < 24 && size > 1024L << exponent) exponent++;
        if (File.Exists(torrent)) File.Delete(torrent);
        await Command.RunAsync("mktorrent", ["-l", exponent.ToString(CultureInfo.InvariantCulture), "-a", announce, "-o", torrent, file], cancellationToken).ConfigureAwait(false);
        return torrent;
    }

    /// <summary>
    /// A seed of <paramref name="file"/> (the torrent's content, in place): trusted without re-hashing
    /// (<c>--bt-seed-unverified</c>), seeding until killed (<c>--seed-ratio=0.0</c>).
    /// </summary>
    public static NodeProcess StartSeed(string name, string torrent, string file, string address, int port, string? netns) =>
        NodeProcess.StartCommand("aria2c", name, [.. Common(address, port, Path.GetDirectoryName(file)!), "--bt-seed-unverified=true", "--seed-ratio=0.0", torrent], netns);

    /// <summary>
    /// A leecher into <paramref name="dir"/>. It leaves once complete (<c>--seed-time=0</c>, exiting after its last
    /// announce) unless <paramref name="keepSeeding"/>, when it serves the others until killed, as a Shoal node does.
    /// </summary>
    public static Aria2Leech StartLeech(string name, string torrent, string fileName, string dir, string address, int port, string? netns, bool keepSeeding)
    {
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, fileName);
        // aria2 runs this hook (GID, file count, path) the moment the download completes, before seeding: the marker
        // is the completion time. The control file vanishing says the same but cannot be told from "not created yet".
        var hook = Path.Combine(dir, ".complete.sh");
        File.WriteAllText(hook, "#!/bin/sh\n: > \"$3.complete\"\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(hook, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        List<string> arguments =
        [
            .. Common(address, port, dir),
            // Allocated at once (fallocate), as Shoal preallocates; aria2's default "prealloc" writes zeros over the file first.
            "--file-allocation=falloc",
            $"--on-bt-download-complete={hook}",
            keepSeeding ? "--seed-ratio=0.0" : "--seed-time=0",
            torrent,
        ];
        return new Aria2Leech(NodeProcess.StartCommand("aria2c", name, arguments, netns), file);
    }

    private static string[] Common(string address, int port, string dir) =>
    [
        "--no-conf=true",
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--disable-ipv6=true",
        $"--bt-external-ip={address}",
        $"--listen-port={port.ToString(CultureInfo.InvariantCulture)}",
        $"--dir={dir}",
        "--console-log-level=warn",
        "--summary-interval=0",
        "--show-console-readout=false",
    ];

    /// <summary>Waits for the completion marker (<see cref="StartLeech"/>); fails with the leecher's output when it dies or the timeout passes.</summary>
    public static async Task<Aria2Finish> WaitCompleteAsync(Aria2Leech leech, Stopwatch clock, TimeSpan timeout, int clockTicks, CancellationToken cancellationToken)
    {
        while (!File.Exists(leech.File + ".complete"))
        {
            leech.Process.ThrowIfExited("before its download completed");
            if (clock.Elapsed > timeout)
            {
                var have = File.Exists(leech.File) ? new FileInfo(leech.File).Length : 0;
                throw new BenchException($"aria2 leecher {leech.Process.Name} is stuck: not complete after {timeout.TotalSeconds:0} s (file {have} bytes, allocated up front){Environment.NewLine}{leech.Process.Tail()}");
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }

        var seconds = clock.Elapsed.TotalSeconds;
        double cpu = 0;
        long peak = 0;
        try
        {
            cpu = leech.Process.CpuTicks() / (double)clockTicks;
            peak = leech.Process.StatusBytes("VmHWM");
        }
        catch (Exception e) when (e is IOException or BenchException)
        {
            // Already exited (a leecher that leaves can be gone by the next poll): its CPU and memory are unknown.
        }

        return new Aria2Finish(seconds, cpu, peak);
    }

    /// <summary>
    /// For a leecher that leaves once complete: waits for its exit (after its last announce) and returns the seconds on
    /// <paramref name="clock"/> by then; a leecher still running a minute later, or exiting with an error, fails the run.
    /// </summary>
    public static async Task<double> WaitExitAsync(Aria2Leech leech, Stopwatch clock, CancellationToken cancellationToken)
    {
        var code = await leech.Process.WaitForExitAsync(ExitTimeout, cancellationToken).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        if (code is null) throw new BenchException($"aria2 leecher {leech.Process.Name} completed but is still running {ExitTimeout.TotalSeconds:0} s later{Environment.NewLine}{leech.Process.Tail()}");
        if (code != 0) throw new BenchException($"aria2 leecher {leech.Process.Name} exited with code {code}{Environment.NewLine}{leech.Process.Tail()}");
        return seconds;
    }
}

/// <summary>An aria2 leecher and the path its file lands at.</summary>
internal sealed class Aria2Leech(NodeProcess process, string file) : IDisposable
{
    public NodeProcess Process { get; } = process;

    public string File { get; } = file;

    public void Dispose() => Process.Dispose();
}

/// <summary>When a leecher completed (seconds since its clock started), and its CPU seconds and peak RSS by then.</summary>
internal sealed record Aria2Finish(double Seconds, double CpuSeconds, long PeakRssBytes);
