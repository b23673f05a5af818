using System.Globalization;
using System.Text;

namespace Shoal.Bench;

/// <summary>One reading of /proc/PID/status, in bytes: the resident set and what it is made of.</summary>
/// <param name="VmRss">RssAnon + RssFile + RssShmem.</param>
/// <param name="RssAnon">Anonymous memory: the managed heap, native heaps, thread stacks.</param>
/// <param name="RssFile">File mappings: assemblies (ReadyToRun code) and native libraries.</param>
/// <param name="RssShmem">Shared memory: the runtime's double-mapped (W^X) executable memory.</param>
internal sealed record RssSample(long VmRss, long RssAnon, long RssFile, long RssShmem)
{
    public static readonly RssSample None = new(0, 0, 0, 0);

    /// <summary>One read of the file, so that the parts add up to the total of the same moment.</summary>
    public static RssSample Read(int pid)
    {
        var kB = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 || line[..colon] is not ("VmRSS" or "RssAnon" or "RssFile" or "RssShmem")) continue;
            kB[line[..colon]] = long.Parse(line[(colon + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }

        return new RssSample(kB.GetValueOrDefault("VmRSS") * 1024, kB.GetValueOrDefault("RssAnon") * 1024, kB.GetValueOrDefault("RssFile") * 1024, kB.GetValueOrDefault("RssShmem") * 1024);
    }
}

/// <summary>
/// Issue 9's P6: a node's memory during a 1 → 1 transfer of the --size file and of one ten times larger (by default
/// 1 GiB and 10 GiB), so that a reader sees both the level and whether it grows with the file. Every run is the 1to1
/// scenario's (<see cref="Scenario.RunAsync"/>); per node the table gives VmHWM, the largest VmRSS sampled during the
/// transfer, and at that sample what the resident memory is (anonymous, file-backed, shared).
/// </summary>
internal static class MemoryScenario
{
    public const string Title = "memory: peak RSS per node, 1 → 1 at --size and 10× --size (issue 9's P6)";

    private const double MiB = 1 << 20;
    private const double TargetMiB = 150;
    private const double GrowthMiB = 10;
    private const int Factor = 10;

    public static async Task<string> RunAsync(BenchContext context, int runs, CancellationToken cancellationToken)
    {
        var bySize = new List<IReadOnlyList<RunResult>>();
        foreach (var size in new[] { context.Size, Factor * context.Size })
        {
            // The --size file is the invocation's source; the larger one is this scenario's alone, deleted once its runs are done.
            var sized = context;
            var own = size == context.Size ? null : Path.Combine(context.WorkDir, "memory-source.bin");
            try
            {
                if (own is not null)
                {
                    sized = context with { SourcePath = own, SourceHash = await Bench.GenerateAsync(own, size, cancellationToken).ConfigureAwait(false), Size = size };
                }

                var results = new List<RunResult>();
                for (var run = 1; run <= runs; run++)
                {
                    Console.Out.WriteLine($"memory {Report.SizeText(size)} run {run}/{runs} ...");
                    var result = await Scenario.RunAsync(sized, $"memory-{size}", 1, run, cancellationToken).ConfigureAwait(false);
                    results.Add(result);
                    Console.Out.WriteLine(result.ToJson().ToJsonString());
                }

                bySize.Add(results);
            }
            finally
            {
                if (own is not null) File.Delete(own);
            }
        }

        AddHeadlines(bySize[0], bySize[1]);
        return Table(bySize[0], bySize[1]);
    }

    /// <summary>P6: each node's peak at the larger size against 150 MiB, and how much more it is than at the smaller.</summary>
    private static void AddHeadlines(IReadOnlyList<RunResult> small, IReadOnlyList<RunResult> large)
    {
        var smallSize = Report.SizeText(small[0].Bytes);
        var largeSize = Report.SizeText(large[0].Bytes);
        for (var i = 0; i < large[0].Nodes.Count; i++)
        {
            var name = large[0].Nodes[i].Name;
            var peak = Report.Median(large.Select(r => r.Nodes[i].PeakRssBytes / MiB));
            var growth = peak - Report.Median(small.Select(r => r.Nodes[i].PeakRssBytes / MiB));
            Headlines.Add(new Headline("P6", $"peak RSS (VmHWM) of the {name}, {largeSize} get 1 → 1", "MiB", peak, null, "", $"< {TargetMiB:0} MiB", peak < TargetMiB));
            Headlines.Add(new Headline("P6", $"peak RSS of the {name}: {largeSize} − {smallSize}", "MiB", growth, null, "", $"within {GrowthMiB:0} MiB", Math.Abs(growth) <= GrowthMiB));
        }
    }

    private static string Table(IReadOnlyList<RunResult> small, IReadOnlyList<RunResult> large)
    {
        var rows = new List<(string Metric, Func<RunResult, double> Value, string Format)>
        {
            ("transfer MB/s (10^6 B/s)", r => r.MBps, "F1"),
            ("transfer time s", r => r.TransferSeconds, "F1"),
        };
        for (var i = 0; i < small[0].Nodes.Count; i++)
        {
            var index = i;
            var name = small[0].Nodes[i].Name;
            rows.Add(($"CPU s/GiB {name}", r => r.CpuPerGiB(r.Nodes[index].CpuSeconds), "F2"));
            rows.Add(($"peak RSS MiB {name} (VmHWM)", r => r.Nodes[index].PeakRssBytes / MiB, "F0"));
            rows.Add(($"max RSS MiB {name} during transfer (VmRSS every 100 ms)", r => r.Nodes[index].MaxSampledRssBytes / MiB, "F0"));
            rows.Add(($"— of which anonymous (RssAnon) {name}", r => Sample(r, index).RssAnon / MiB, "F0"));
            rows.Add(($"— of which file-backed (RssFile) {name}", r => Sample(r, index).RssFile / MiB, "F0"));
            rows.Add(($"— of which shared (RssShmem) {name}", r => Sample(r, index).RssShmem / MiB, "F0"));
        }

        var smallSize = Report.SizeText(small[0].Bytes);
        var largeSize = Report.SizeText(large[0].Bytes);
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"| metric (median of {small.Count} run{(small.Count == 1 ? "" : "s")}) | {smallSize} | {largeSize} | {largeSize} − {smallSize} |");
        text.AppendLine("| --- | ---: | ---: | ---: |");
        foreach (var (metric, value, format) in rows)
        {
            var a = Report.Median(small.Select(value));
            var b = Report.Median(large.Select(value));
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {metric} | {a.ToString(format, CultureInfo.InvariantCulture)} | {b.ToString(format, CultureInfo.InvariantCulture)} | {(b - a).ToString("+0.0;−0.0;0", CultureInfo.InvariantCulture)} |");
        }

        text.AppendLine();
        text.AppendLine(
            "VmHWM covers the process's whole life (a seed's includes indexing the file); the breakdown is taken at the sample " +
            "with the largest VmRSS. Anonymous: the managed heap, native heaps and stacks; file-backed: mapped assemblies " +
            "and libraries (about 70 MiB of any idle node); shared: the runtime's double-mapped code.");
        return text.ToString();
    }

    private static RssSample Sample(RunResult run, int node) => run.Nodes[node].AtMaxSample ?? RssSample.None;
}
