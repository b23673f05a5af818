using System.Globalization;

namespace Shoal.Bench;

/// <summary>A failure that ends the benchmark with one clear message (exit code 1).</summary>
internal sealed class BenchException(string message) : Exception(message);

internal sealed class UsageException(string message) : Exception(message);

/// <param name="Quick">--quick: fewer small files and latency samples, shorter ceilings; for the CI smoke run, not for figures.</param>
internal sealed record BenchOptions(long Size, int Runs, IReadOnlyList<string> Scenarios, string WorkRoot, TimeSpan Timeout, bool Quick = false)
{
    public const string Usage = """
        usage: bench/run [--size 1G] [--runs 3] [--scenario 1to1,3to1,syncthing,folder,put,tracker,ceilings] [--work-dir DIR] [--timeout SECONDS] [--quick]
          --size      file size; K/M/G/T are binary (1G = 1 GiB)                      default 1G
          --runs      runs per scenario; the report shows median, min and max         default 3
          --scenario  any of 1to1, 3to1, syncthing, aria2, swarm4, flash, folder, put, tracker, ceilings, load, memory (comma-separated or repeated)
                      default all but load (32 sinks of one seed, each as big as --size) and memory (1to1 at --size and 10× --size)
          --work-dir  where the file, node homes and downloads go (must be a disk)    default $TMPDIR, else /var/tmp
          --timeout   seconds before a transfer counts as stuck                       default 600
          --quick     200 instead of 1000 small files, 5 instead of 30 latency samples, short ceilings (CI smoke run)
        """;

    public static readonly string[] AllScenarios = ["1to1", "3to1", "syncthing", "aria2", "swarm4", "flash", "folder", "put", "tracker", "ceilings", "load", "memory"];

    /// <summary>Without --scenario: load moves 32 copies of the file and memory one ten times its size, too much to run unasked.</summary>
    private static readonly string[] DefaultScenarios = [.. AllScenarios.Except(["load", "memory"])];

    public static BenchOptions Parse(string[] args)
    {
        long size = 1L << 30;
        var runs = 3;
        var scenarios = new List<string>();
        var tmp = Environment.GetEnvironmentVariable("TMPDIR");
        // /var/tmp rather than /tmp: where /tmp is a tmpfs, fsync would measure memory, not a disk.
        var workRoot = string.IsNullOrWhiteSpace(tmp) ? "/var/tmp" : tmp;
        var timeout = TimeSpan.FromMinutes(10);
        var quick = false;
        for (var i = 0; i < args.Length; i++)
        {
            var flag = args[i];
            if (flag is "-h" or "--help") throw new UsageException("");
            if (flag == "--quick")
            {
                quick = true;
                continue;
            }

            if (i + 1 >= args.Length) throw new UsageException($"{flag} needs a value");
            var value = args[++i];
            switch (flag)
            {
                case "--size":
                    size = ParseSize(value);
                    break;
                case "--runs":
                    runs = int.TryParse(value, CultureInfo.InvariantCulture, out var r) && r > 0 ? r : throw new UsageException($"--runs: '{value}' is not a positive number");
                    break;
                case "--scenario":
                    foreach (var s in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    {
                        if (!AllScenarios.Contains(s)) throw new UsageException($"--scenario: '{s}' is not one of {string.Join(", ", AllScenarios)}");
                        if (!scenarios.Contains(s)) scenarios.Add(s);
                    }

                    break;
                case "--work-dir":
                    workRoot = value;
                    break;
                case "--timeout":
                    timeout = int.TryParse(value, CultureInfo.InvariantCulture, out var t) && t > 0 ? TimeSpan.FromSeconds(t) : throw new UsageException($"--timeout: '{value}' is not a positive number of seconds");
                    break;
                default:
                    throw new UsageException($"unknown option '{flag}'");
            }
        }

        return new BenchOptions(size, runs, scenarios.Count == 0 ? DefaultScenarios : scenarios, Path.GetFullPath(workRoot), timeout, quick);
    }

    private static long ParseSize(string text)
    {
        var t = text.Trim().ToUpperInvariant();
        if (t.EndsWith("IB", StringComparison.Ordinal)) t = t[..^2];
        else if (t.EndsWith('B')) t = t[..^1];
        var shift = t.Length == 0 ? 0 : t[^1] switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        if (shift > 0) t = t[..^1];
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) || number < 1)
        {
            throw new UsageException($"--size: '{text}' is not a size like 256M or 1G");
        }

        return (long)(number * (1L << shift));
    }
}
