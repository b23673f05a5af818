using System.Globalization;
using Shoal.Core;

namespace Shoal.Cli.Top;

/// <summary>
/// <c>top</c> when stdout is not a terminal: plain lines a log or a pipe can take. A summary line (peers, rates,
/// transfers, folder, replication) when it changed, at most every <see cref="SummaryInterval"/>; a line for each
/// new folder event and for each peer going online or offline, as they happen.
/// </summary>
public sealed class PlainReport(TextWriter output)
{
    public static readonly TimeSpan SummaryInterval = TimeSpan.FromSeconds(2);

    private readonly Dictionary<string, bool> _online = new(StringComparer.Ordinal);
    private long _printed = -1;
    private string? _summary;
    private DateTimeOffset _summaryAt = DateTimeOffset.MinValue;

    /// <summary>Writes what is new since the last call. Nothing before the node's first full snapshot has arrived.</summary>
    public void Report(TopState state, DateTimeOffset now)
    {
        if (state.Status is null || state.Folder is null) return;
        var time = now.ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture);
        var first = _printed < 0;
        if (first) _printed = state.LastSequence; // what happened before top started is history, not news

        foreach (var peer in state.Peers)
        {
            var known = _online.TryGetValue(peer.Id, out var wasOnline);
            _online[peer.Id] = peer.Online;
            if (first || (known && wasOnline == peer.Online) || (!known && !peer.Online)) continue;
            output.WriteLine($"{time} peer {TopView.Clean(peer.Name)} {(peer.Online ? "online" : "offline")}");
        }

        foreach (var logged in state.Events.Where(e => e.Sequence > _printed))
        {
            var e = logged.Event;
            var detail = e.Detail.Length == 0 ? "" : $" ({TopView.Clean(e.Detail)})";
            output.WriteLine($"{time} folder {TopView.Clean(e.Kind)} {TopView.Clean(e.Path)} by {TopView.Clean(e.DeviceName)}{detail}");
            _printed = logged.Sequence;
        }

        var summary = Summary(state);
        if (summary == _summary || now - _summaryAt < SummaryInterval) return;
        _summary = summary;
        _summaryAt = now;
        output.WriteLine($"{time} {summary}");
    }

    /// <summary>One line: "NAME: peers 1/2 online · ↓ 1.0 MiB/s ↑ 0 B/s · transfers ... · folder in sync, 3 files, 1.2 MiB · replication ...".</summary>
    public static string Summary(TopState state)
    {
        var parts = new List<string>
        {
            $"peers {state.Peers.Count(p => p.Online)}/{state.Peers.Count} online",
            $"↓ {Rough(state.DownloadRate)} ↑ {Rough(state.UploadRate)}",
        };

        var active = state.Transfers.Where(t => t.State is "downloading" or "waiting").ToList();
        var transfers = active.Select(t => t.State == "waiting"
                ? $"{TopView.Clean(t.Name)} waiting"
                : $"{TopView.Clean(t.Name)} {Percent(t.VerifiedBytes, t.Size)} {TopView.Rate(t.BytesPerSecond)} ETA {TopView.Eta(t.EtaSeconds)} from {t.Sources}")
            .Concat(state.Puts.Select(p => $"{TopView.Clean(p.Name)} placing {Percent(p.PlacedBytes, p.Size)} {TopView.Rate(p.BytesPerSecond)}"))
            .ToList();
        parts.Add(transfers.Count == 0 ? "no transfers" : $"transfers {string.Join(", ", transfers)}");

        if (state.Folder is { } folder)
        {
            var problem = folder.Problem is null ? "" : $" ({TopView.Clean(folder.Problem)})";
            parts.Add($"folder {TopView.FolderState(folder)}, {TopView.Plural(folder.Files, "file")}, {ByteSize.Format(folder.Bytes)}{problem}");
        }

        if (state.Health is { Count: > 0 } health)
        {
            var ok = health.Count(f => f.Copies >= f.Replicas);
            var lost = health.Count(f => f.Copies == 0);
            var degraded = health.Count - ok - lost;
            (int Count, string Label)[] counts = [(ok, "ok"), (degraded, "degraded"), (lost, "unavailable")];
            parts.Add($"replication {string.Join(", ", counts.Where(c => c.Count > 0).Select(c => $"{c.Count} {c.Label}"))}");
        }

        return $"{TopView.Clean(state.Status?.Name ?? "?")}: {string.Join(" · ", parts)}";
    }

    /// <summary>The peers' total in whole KiB/s: the trickle of an idle connection would otherwise print a new line every time.</summary>
    private static string Rough(double rate) => TopView.Rate(Math.Floor(rate / 1024) * 1024);

    private static string Percent(long done, long total) => total == 0 ? "100%" : $"{Math.Floor(100.0 * done / total):0}%";
}
