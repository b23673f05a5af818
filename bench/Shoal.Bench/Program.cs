using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Shoal.Bench;

internal static class Bench
{
    private const int BlockSize = 4 << 20;

    public static async Task<int> Main(string[] args)
    {
        BenchOptions options;
        try
        {
            options = BenchOptions.Parse(args);
        }
        catch (UsageException e)
        {
            if (e.Message.Length == 0)
            {
                Console.Out.Write(BenchOptions.Usage);
                return 0;
            }

            Console.Error.WriteLine($"bench: {e.Message}");
            Console.Error.Write(BenchOptions.Usage);
            return 2;
        }

        using var cancel = new CancellationTokenSource();
        void Interrupt(PosixSignalContext context)
        {
            // The first signal cleans up in order; a second one is left to end the process (the exit hook still kills the nodes).
            context.Cancel = !cancel.IsCancellationRequested;
            cancel.Cancel();
        }

        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Interrupt);

        string repo;
        var workDir = Path.Combine(options.WorkRoot, $"shoal-bench-{Environment.ProcessId}-{RandomNumberGenerator.GetHexString(6, lowercase: true)}");
        try
        {
            repo = FindRepo();
            Directory.CreateDirectory(workDir);
        }
        catch (Exception e) when (e is BenchException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"bench: {e.Message}");
            return 1;
        }

        AppDomain.CurrentDomain.ProcessExit += (_, _) => Cleanup(workDir);
        AppDomain.CurrentDomain.UnhandledException += (_, _) => Cleanup(workDir);
        try
        {
            await RunAsync(options, repo, workDir, args, cancel.Token).ConfigureAwait(false);
            return 0;
        }
        catch (Exception) when (cancel.IsCancellationRequested)
        {
            // Whatever broke after Ctrl-C broke because of it (a terminal's Ctrl-C also stops the nodes themselves).
            Console.Error.WriteLine("bench: interrupted; nodes stopped, work directory removed");
            return 130;
        }
        catch (BenchException e)
        {
            Console.Error.WriteLine($"bench: {e.Message}");
            return 1;
        }
        finally
        {
            Cleanup(workDir);
        }
    }

    private static async Task RunAsync(BenchOptions options, string repo, string workDir, string[] args, CancellationToken cancellationToken)
    {
        var started = DateTime.Now;
        var header = await DescribeAsync(options, repo, workDir, args).ConfigureAwait(false);
        foreach (var line in header) Console.Out.WriteLine(line);

        var scenarios = new List<(string Title, string Table)>();
        var seedCounts = new Dictionary<string, (int Seeds, string Title)>
        {
            ["1to1"] = (1, "1to1: one seed, one sink"),
            ["3to1"] = (3, "3to1: three seeds, one sink"),
        };
        // The tracker scenario moves no file: run alone, it needs no source file generated.
        var sourcePath = Path.Combine(workDir, "source.bin");
        var hash = MovesFiles(options) ? await GenerateAsync(sourcePath, options.Size, cancellationToken).ConfigureAwait(false) : [];
        var clockTicks = int.TryParse(await Command.TryRunAsync("getconf", ["CLK_TCK"]).ConfigureAwait(false), CultureInfo.InvariantCulture, out var ticks) ? ticks : 100;
        var context = new BenchContext(Path.Combine(repo, "shoal"), workDir, sourcePath, hash, options.Size, options.Timeout, clockTicks, options.Quick);

        // Syncthing first: 1to1 and folder compare with what it measured here (SyncthingScenario.Measured).
        if (options.Scenarios.Contains("syncthing"))
        {
            const string title = "syncthing: Syncthing A → B, side by side (same file, same machine, same invocation)";
            var table = await SyncthingScenario.RunAsync(context, options.Runs, cancellationToken).ConfigureAwait(false);
            Console.Out.WriteLine();
            Console.Out.WriteLine($"## {title}");
            Console.Out.WriteLine(table);
            scenarios.Add((title, table));
        }

        IReadOnlyList<RunResult> oneToOne = [];
        foreach (var scenario in options.Scenarios.Where(seedCounts.ContainsKey))
        {
            var (seeds, title) = seedCounts[scenario];
            var runs = new List<RunResult>();
            for (var run = 1; run <= options.Runs; run++)
            {
                Console.Out.WriteLine($"{scenario} run {run}/{options.Runs} ...");
                var result = await Scenario.RunAsync(context, scenario, seeds, run, cancellationToken).ConfigureAwait(false);
                runs.Add(result);
                Console.Out.WriteLine(result.ToJson().ToJsonString());
            }

            if (scenario == "1to1")
            {
                oneToOne = runs;
                AddGetHeadlines(runs);
            }

            var table = Report.ScenarioTable(runs);
            Console.Out.WriteLine();
            Console.Out.WriteLine($"## {title}");
            Console.Out.WriteLine(table);
            scenarios.Add((title, table));
        }

        // Scenarios that run once and report their own table.
        (string Name, string Title, Func<BenchContext, CancellationToken, Task<string>> Run)[] tabled =
        [
            ("put", "put: 4 nodes, N = 2, then one node killed", PutScenario.RunAsync),
            ("folder", "folder: synced folder A → B (1000 × 4 KiB, one big file, change latency)", FolderScenario.RunAsync),
            ("tracker", "tracker: announce and query throughput, 10,000 simulated nodes, SQLite and PostgreSQL", TrackerScenario.RunAsync),
            ("load", $"load: {LoadScenario.Sinks} sinks download one file from one seed at once", LoadScenario.RunAsync),
            ("aria2", Aria2Scenario.Title, (c, t) => Aria2Scenario.RunAsync(c, options.Runs, oneToOne, t)),
            ("swarm4", Swarm4Scenario.Title, (c, t) => Swarm4Scenario.RunAsync(c, options.Runs, t)),
            ("flash", FlashScenario.Title, (c, t) => FlashScenario.RunAsync(c, options.Runs, t)),
            ("memory", MemoryScenario.Title, (c, t) => MemoryScenario.RunAsync(c, options.Runs, t)),
        ];
        foreach (var (name, title, run) in tabled.Where(t => options.Scenarios.Contains(t.Name)))
        {
            Console.Out.WriteLine($"{name} ...");
            var table = await run(context, cancellationToken).ConfigureAwait(false);
            Console.Out.WriteLine();
            Console.Out.WriteLine($"## {title}");
            Console.Out.WriteLine(table);
            scenarios.Add((title, table));
        }

        IReadOnlyList<Ceiling> ceilings = [];
        if (options.Scenarios.Contains("ceilings"))
        {
            ceilings = await Ceilings.RunAsync(workDir, cancellationToken, options.Quick).ConfigureAwait(false);
            Console.Out.WriteLine();
            Console.Out.WriteLine("## Ceilings");
            Console.Out.WriteLine(Report.CeilingTable(ceilings));
            AddCeilingHeadlines(oneToOne, ceilings);
        }

        var headlines = Headlines.Snapshot();
        Console.Out.WriteLine();
        Console.Out.WriteLine("## Targets (issue 9)");
        Console.Out.WriteLine(Report.TargetTable(headlines));

        var lines = header.ToList();
        lines.Insert(lines.FindIndex(l => l.StartsWith("load average", StringComparison.Ordinal)) + 1, $"load average at end: {LoadAverage()}");
        var path = ReserveResultPath(repo, started);
        var svg = Plot.Svg(headlines);
        string? plot = null;
        if (svg is not null)
        {
            plot = Path.GetFileNameWithoutExtension(path) + ".svg";
            WriteResult(Path.Combine(Path.GetDirectoryName(path)!, plot), svg);
        }

        WriteResult(path, Report.Document(started, lines, scenarios, ceilings, headlines, plot));
        Console.Out.WriteLine($"report: {Path.GetRelativePath(repo, path)}");
        if (plot is not null) Console.Out.WriteLine($"plot: {Path.GetRelativePath(repo, Path.Combine(Path.GetDirectoryName(path)!, plot))}");
    }

    /// <summary>P1: Shoal's 1 → 1 get, and share + get end to end, each against Syncthing's drop-to-peer rate when it ran here.</summary>
    private static void AddGetHeadlines(IReadOnlyList<RunResult> runs)
    {
        var size = Report.SizeText(runs[0].Bytes);
        var peer = SyncthingScenario.Measured?.BigMBps;
        var peerName = peer is null ? "" : "Syncthing";
        var get = Report.Median(runs.Select(r => r.MBps));
        var endToEnd = Report.Median(runs.Select(r => r.EndToEndMBps));
        Headlines.Add(new Headline("P1", $"{size} get, 1 → 1 (transfer)", "MB/s", get, peer, peerName, "≥ 2.5× Syncthing", peer is null ? null : get >= 2.5 * peer));
        Headlines.Add(new Headline("P1", $"{size} share + get end to end, 1 → 1", "MB/s", endToEnd, peer, peerName, "≥ 2× Syncthing", peer is null ? null : endToEnd >= 2 * peer));
    }

    /// <summary>P1 as a fraction of each ceiling measured in this run (context: a transfer cannot beat the slowest).</summary>
    private static void AddCeilingHeadlines(IReadOnlyList<RunResult> oneToOne, IReadOnlyList<Ceiling> ceilings)
    {
        if (oneToOne.Count == 0) return;
        var get = Report.Median(oneToOne.Select(r => r.MBps));
        foreach (var ceiling in ceilings)
        {
            Headlines.Add(new Headline("P1", $"1 → 1 get against the ceiling: {ceiling.Name}", "MB/s", get, ceiling.BytesPerSecond / 1e6, "ceiling", "context", null));
        }
    }

    /// <summary>Whether a selected scenario shares, gets or puts the source file (the others never read it).</summary>
    private static bool MovesFiles(BenchOptions options) => options.Scenarios.Any(s => s is "1to1" or "3to1" or "syncthing" or "folder" or "put" or "load" or "aria2" or "swarm4" or "flash" or "memory");

    /// <summary>Random content (nothing for the chunker to deduplicate), written once per invocation and hashed as it is written.</summary>
    internal static async Task<byte[]> GenerateAsync(string path, long size, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var buffer = new byte[BlockSize];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            for (long written = 0; written < size; written += buffer.Length)
            {
                var block = buffer.AsMemory(0, (int)Math.Min(buffer.Length, size - written));
                RandomNumberGenerator.Fill(block.Span);
                hash.AppendData(block.Span);
                await file.WriteAsync(block, cancellationToken).ConfigureAwait(false);
            }

            file.Flush(flushToDisk: true);
        }

        Console.Out.WriteLine($"source: {size} bytes written and hashed in {clock.Elapsed.TotalSeconds:F1} s");
        return hash.GetHashAndReset();
    }

    private static async Task<IReadOnlyList<string>> DescribeAsync(BenchOptions options, string repo, string workDir, string[] args)
    {
        var commit = await Command.TryRunAsync("git", ["rev-parse", "--short", "HEAD"], repo).ConfigureAwait(false);
        // Earlier reports in bench/results are not a change to what is measured.
        var changes = await Command.TryRunAsync("git", ["status", "--porcelain", "--", ".", ":!bench/results"], repo).ConfigureAwait(false);
        var sdk = await Command.TryRunAsync("dotnet", ["--version"], repo).ConfigureAwait(false);
        var cpu = ProcField("/proc/cpuinfo", "model name") ?? "unknown CPU";
        var memory = long.TryParse(ProcField("/proc/meminfo", "MemTotal")?.Split(' ')[0], CultureInfo.InvariantCulture, out var kb) ? $"{kb / 1048576.0:F1} GiB" : "unknown";
        var kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : RuntimeInformation.OSDescription;
        var fileSystem = FileSystemOf(workDir);
        var lines = new List<string>
        {
            $"command: `bench/run{(args.Length == 0 ? "" : " " + string.Join(' ', args))}`",
            $"commit: {(commit.Length == 0 ? "unknown" : commit)}{(changes.Length > 0 ? " (dirty)" : "")}",
            $"machine: {Environment.ProcessorCount} CPUs ({cpu}), {memory} RAM, Linux {kernel}",
            $"dotnet: SDK {(sdk.Length == 0 ? "unknown" : sdk)}, {RuntimeInformation.FrameworkDescription}",
            $"work dir: {options.WorkRoot} ({fileSystem}); fresh node homes every run",
            $"load average at start (1, 5, 15 min): {LoadAverage()}",
        };
        if (MovesFiles(options))
        {
            lines.Insert(4, $"file: {options.Size} bytes ({options.Size / (double)(1L << 30):0.###} GiB) of random data; SHA-256 checked after every download; {options.Runs} run(s) per scenario");
            lines.Add("nodes: `shoal up --listen 127.0.0.1:0 --api 127.0.0.1:0 --no-discovery`, one process each; CPU = utime+stime from /proc/PID/stat between the POST and the poll that saw `completed` (the sink's includes answering those polls, every 25 ms); CPU s/GiB is per GiB of the file, for every node");
        }

        if (fileSystem is "tmpfs" or "ramfs") lines.Add($"WARNING: {options.WorkRoot} is in memory; fsync and disk writes are not measured. Use --work-dir on a disk.");
        return lines;
    }

    /// <summary>Anything else running skews a benchmark; the report says how busy the machine was.</summary>
    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(", ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    private static string? ProcField(string path, string name)
    {
        if (!File.Exists(path)) return null;
        return File.ReadLines(path)
            .Where(l => l.StartsWith(name, StringComparison.Ordinal) && l.Contains(':', StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim())
            .FirstOrDefault();
    }

    /// <summary>The type of the mount that holds <paramref name="path"/>: the longest mount point that is a prefix of it.</summary>
    private static string FileSystemOf(string path)
    {
        if (!File.Exists("/proc/self/mounts")) return "unknown file system";
        var best = ("", "unknown file system");
        foreach (var line in File.ReadLines("/proc/self/mounts"))
        {
            var fields = line.Split(' ');
            if (fields.Length < 3) continue;
            var mount = fields[1].Replace("\\040", " ", StringComparison.Ordinal);
            var inside = path == mount || path.StartsWith(mount.TrimEnd('/') + "/", StringComparison.Ordinal);
            if (inside && mount.Length >= best.Item1.Length) best = (mount, fields[2]);
        }

        return best.Item2;
    }

    /// <summary>bench/results/YYYY-MM-DD-HHMM.md, or -2, -3 … when taken; the plot gets the same name with .svg.</summary>
    private static string ReserveResultPath(string repo, DateTime when)
    {
        var dir = Path.Combine(repo, "bench", "results");
        Directory.CreateDirectory(dir);
        var name = when.ToString("yyyy-MM-dd-HHmm", CultureInfo.InvariantCulture);
        var path = Path.Combine(dir, name + ".md");
        for (var n = 2; File.Exists(path) || File.Exists(Path.ChangeExtension(path, ".svg")); n++) path = Path.Combine(dir, $"{name}-{n}.md");
        return path;
    }

    private static void WriteResult(string path, string content)
    {
        // Via a .tmp name (ignored by git): an interrupted write never leaves a half report under a final name.
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, content);
        File.Move(temporary, path);
    }

    private static string FindRepo()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Shoal.slnx")) && File.Exists(Path.Combine(dir.FullName, "shoal"))) return dir.FullName;
        }

        throw new BenchException($"cannot find the repository (Shoal.slnx) above {AppContext.BaseDirectory}");
    }

    private static void Cleanup(string workDir)
    {
        NodeProcess.KillAll();
        Netns.DownAll();
        TryDelete(workDir);
    }

    public static void TryDelete(string dir)
    {
        try
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"bench: could not remove {dir}: {e.Message}");
        }
    }
}
