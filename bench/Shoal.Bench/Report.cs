using System.Globalization;
using System.Text;

namespace Shoal.Bench;

/// <summary>The Markdown report: machine, build, one table per scenario (median, min, max over runs), ceilings.</summary>
internal static class Report
{
    private const double MiB = 1 << 20;

    private sealed record Row(string Metric, Func<RunResult, double> Value, string Format);

    public static string ScenarioTable(IReadOnlyList<RunResult> runs)
    {
        var first = runs[0];
        var rows = new List<Row>
        {
            new("transfer MB/s (10^6 B/s)", r => r.MBps, "F1"),
            new("transfer MiB/s", r => r.MiBps, "F1"),
            new("transfer time s (POST to completed)", r => r.TransferSeconds, "F2"),
            new($"share (index) time s, {first.Nodes[0].Name}", r => r.ShareSeconds, "F2"),
            new("index MB/s", r => r.Bytes / r.ShareSeconds / 1e6, "F0"),
            // What a user waits for from "share" on one node to a verified file on the other (P1's end-to-end target).
            new("share + get end to end s", r => r.ShareSeconds + r.TransferSeconds, "F2"),
            new("share + get end to end MB/s", r => r.EndToEndMBps, "F1"),
        };

        void PerNode(string label, Func<RunResult, int, double> value, string format, bool seedsOnly = false)
        {
            for (var i = 0; i < first.Nodes.Count; i++)
            {
                if (seedsOnly && first.Nodes[i].BytesToSink is null) continue;
                var index = i;
                rows.Add(new(string.Format(CultureInfo.InvariantCulture, label, first.Nodes[i].Name), r => value(r, index), format));
            }
        }

        PerNode("CPU s/GiB {0}", (r, i) => r.CpuPerGiB(r.Nodes[i].CpuSeconds), "F2");
        rows.Add(new("CPU s/GiB total", r => r.CpuPerGiB(r.Nodes.Sum(n => n.CpuSeconds)), "F2"));
        PerNode("CPU s {0}", (r, i) => r.Nodes[i].CpuSeconds, "F2");
        PerNode("peak RSS MiB {0} (VmHWM)", (r, i) => r.Nodes[i].PeakRssBytes / MiB, "F0");
        PerNode("max RSS MiB {0} during transfer", (r, i) => r.Nodes[i].MaxSampledRssBytes / MiB, "F0");

        // Above 100: chunks fetched twice (endgame duplicates, or discarded after a failed check).
        rows.Add(new("chunk bytes received, % of file size", r => 100.0 * r.Nodes.Sum(n => n.BytesToSink ?? 0) / r.Bytes, "F1"));
        if (first.Nodes.Count(n => n.BytesToSink is not null) > 1)
        {
            PerNode("chunk bytes from {0}, % of file size", (r, i) => 100.0 * (r.Nodes[i].BytesToSink ?? 0) / r.Bytes, "F1", seedsOnly: true);
        }

        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"| metric ({runs.Count} run{(runs.Count == 1 ? "" : "s")}) | median | min | max |");
        text.AppendLine("| --- | ---: | ---: | ---: |");
        foreach (var row in rows)
        {
            var values = runs.Select(row.Value).Order().ToArray();
            var median = values.Length % 2 == 1 ? values[values.Length / 2] : (values[(values.Length / 2) - 1] + values[values.Length / 2]) / 2;
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {row.Metric} | {median.ToString(row.Format, CultureInfo.InvariantCulture)} | {values[0].ToString(row.Format, CultureInfo.InvariantCulture)} | {values[^1].ToString(row.Format, CultureInfo.InvariantCulture)} |");
        }

        return text.ToString();
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>A "metric | median | min | max" table over runs of any kind.</summary>
    public static string MedianTable<T>(IReadOnlyList<T> runs, IEnumerable<(string Metric, Func<T, double> Value, string Format)> rows)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"| metric ({runs.Count} run{(runs.Count == 1 ? "" : "s")}) | median | min | max |");
        text.AppendLine("| --- | ---: | ---: | ---: |");
        foreach (var (metric, value, format) in rows)
        {
            var values = runs.Select(value).Order().ToArray();
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {metric} | {Median(values).ToString(format, CultureInfo.InvariantCulture)} | {values[0].ToString(format, CultureInfo.InvariantCulture)} | {values[^1].ToString(format, CultureInfo.InvariantCulture)} |");
        }

        return text.ToString();
    }

    /// <summary>
    /// Issue 9's targets as this run measured them, one row per headline, sorted by key: the ratio is Shoal/peer, both
    /// measured in this run ("—" without a peer).
    /// </summary>
    public static string TargetTable(IReadOnlyList<Headline> headlines)
    {
        if (headlines.Count == 0) return "No scenario run here measures one of issue 9's targets.\n";
        var text = new StringBuilder();
        text.AppendLine("| key | measure | Shoal | peer | ratio | target | met |");
        text.AppendLine("| --- | --- | ---: | ---: | ---: | --- | --- |");
        foreach (var h in headlines.OrderBy(h => h.Key, StringComparer.Ordinal))
        {
            var peer = h.Peer is { } value ? $"{h.PeerName} {Figure(value, h.Unit)}" : "—";
            var ratio = h.Peer is { } other && other != 0 ? $"{(h.Shoal / other).ToString(h.Shoal / other >= 10 ? "F1" : "F2", CultureInfo.InvariantCulture)}×" : "—";
            var met = h.Met switch { true => "yes", false => "no", null => "—" };
            text.AppendLine(CultureInfo.InvariantCulture, $"| {h.Key} | {h.Measure} | {Figure(h.Shoal, h.Unit)} | {peer} | {ratio} | {h.Target} | {met} |");
        }

        return text.ToString();
    }

    /// <summary>The file's size as tables and headlines name it: "1 GiB", "0.25 GiB", "2 MiB".</summary>
    public static string SizeText(long bytes) => bytes >= 256L << 20
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.##} GiB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.##} MiB");

    /// <summary>Three significant digits or so, whatever the magnitude: 1234 MB/s, 56.7 ms, 0.12 %.</summary>
    public static string Figure(double value, string unit)
    {
        var format = Math.Abs(value) >= 100 ? "F0" : Math.Abs(value) >= 10 ? "F1" : "F2";
        return $"{value.ToString(format, CultureInfo.InvariantCulture)} {unit}";
    }

    public static string CeilingTable(IReadOnlyList<Ceiling> ceilings)
    {
        var text = new StringBuilder();
        text.AppendLine("| ceiling | MB/s | MiB/s | how |");
        text.AppendLine("| --- | ---: | ---: | --- |");
        foreach (var c in ceilings)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {c.Name} | {c.BytesPerSecond / 1e6:F0} | {c.BytesPerSecond / MiB:F0} | {c.Note} |");
        }

        return text.ToString();
    }

    /// <param name="headlines">Issue 9's targets as measured (the summary right after the header); null: no summary.</param>
    /// <param name="plot">The SVG's file name beside the report, linked under the summary; null: no plot.</param>
    public static string Document(
        DateTime when, IReadOnlyList<string> header, IReadOnlyList<(string Title, string Table)> scenarios, IReadOnlyList<Ceiling> ceilings,
        IReadOnlyList<Headline>? headlines = null, string? plot = null)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"# Shoal share/get benchmark, {when:yyyy-MM-dd HH:mm}");
        text.AppendLine();
        foreach (var line in header) text.AppendLine(CultureInfo.InvariantCulture, $"- {line}");
        if (headlines is not null)
        {
            text.AppendLine();
            text.AppendLine("## Targets (issue 9)");
            text.AppendLine();
            text.Append(TargetTable(headlines));
            if (plot is not null)
            {
                text.AppendLine();
                text.AppendLine(CultureInfo.InvariantCulture, $"![throughput]({plot})");
            }
        }

        foreach (var (title, table) in scenarios)
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"## {title}");
            text.AppendLine();
            text.Append(table);
        }

        if (ceilings.Count > 0)
        {
            text.AppendLine();
            text.AppendLine("## Ceilings (in-process, for context)");
            text.AppendLine();
            text.Append(CeilingTable(ceilings));
        }

        return text.ToString();
    }
}
