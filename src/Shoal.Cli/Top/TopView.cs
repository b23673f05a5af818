using System.Globalization;
using System.Text;
using Shoal.Core;
using Shoal.Node.Api;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Shoal.Cli.Top;

/// <summary>
/// The screen of <c>shoal top</c> as a pure function of a <see cref="TopState"/>, a size and the time: a title bar,
/// peers (with a traffic graph beside them on a wide terminal), transfers and replication health, the folder's
/// event log filling the rest, and a key bar. Sections shrink to fit the height (a table shows "+N more") and
/// columns drop by priority to fit the width, so every size renders exactly <c>height</c> lines of <c>width</c>
/// cells (below <see cref="MinWidth"/> x <see cref="MinHeight"/>, a request for a bigger terminal).
/// </summary>
public static class TopView
{
    public const int MinWidth = 40;
    public const int MinHeight = 10;

    /// <summary>From this width on, traffic and replication get a column of their own.</summary>
    public const int WideWidth = 110;

    private const int Gap = 2;
    private const int MinFlexible = 10;
    private const int EventsMinHeight = 5;
    private const string Spark = "▁▂▃▄▅▆▇█";

    private static readonly Style HeaderStyle = new(Color.Grey62, decoration: Decoration.Bold);
    private static readonly Style BorderStyle = new(Color.Grey35);
    private static readonly Style Dim = new(Color.Grey50);
    private static readonly Style TitleStyle = new(Color.White, Color.DodgerBlue3, Decoration.Bold);
    private static readonly Style BarStyle = new(Color.Grey85, Color.Grey19);
    private static readonly Style KeyStyle = new(Color.Black, Color.SteelBlue1, Decoration.Bold);
    private static readonly Style Green = new(Color.Green);
    private static readonly Style Red = new(Color.Red);
    private static readonly Style Yellow = new(Color.Yellow);
    private static readonly Style Blue = new(Color.DeepSkyBlue1);
    private static readonly Style Magenta = new(Color.Magenta1);

    /// <summary>The screen at this size; <paramref name="now"/> drives the clock and every "ago".</summary>
    public static IRenderable Render(TopState state, int width, int height, DateTimeOffset now)
    {
        if (width < MinWidth || height < MinHeight) return TooSmall(width, height);

        var wide = width >= WideWidth;
        var sideWidth = wide ? Math.Clamp(width / 3, 36, 56) : 0;
        var mainWidth = width - sideWidth;
        var transfers = TransferRows(state);
        var health = state.Health ?? [];
        var showHealth = wide || health.Count > 0;

        // Heights, borders included: what each section would like, and the least it can do with.
        var peersNeed = Math.Max(Need(state.Peers.Count), wide ? 5 : 0);
        var transfersNeed = Need(transfers.Count);
        var healthNeed = Need(health.Count);
        var wanted = new List<(string Name, int Need)> { ("peers", peersNeed) };
        if (wide)
        {
            wanted.Add(("middle", Math.Max(transfersNeed, healthNeed)));
        }
        else
        {
            wanted.Add(("transfers", transfersNeed));
            if (showHealth) wanted.Add(("health", healthNeed));
        }

        // The log keeps a third of the screen at least: it is what moves most.
        var heights = Allocate(wanted, height - 2 - Math.Max(EventsMinHeight, (height - 2) / 3));
        var rows = new List<Layout> { new Layout("title").Size(1).Update(TitleBar(state, width, now)) };
        foreach (var (name, size) in heights)
        {
            var section = name switch
            {
                "peers" when wide => new Layout(name).SplitColumns(
                    new Layout("peer-table").Update(PeersPanel(state, mainWidth - 4, size, now, traffic: false)),
                    new Layout("traffic").Size(sideWidth).Update(TrafficPanel(state, sideWidth - 4, size))),
                "peers" => new Layout(name).Update(PeersPanel(state, width - 4, size, now, traffic: true)),
                "middle" => new Layout(name).SplitColumns(
                    new Layout("transfers").Update(TransfersPanel(state, transfers, mainWidth - 4, size)),
                    new Layout("health").Size(sideWidth).Update(HealthPanel(state, sideWidth - 4, size))),
                "transfers" => new Layout(name).Update(TransfersPanel(state, transfers, width - 4, size)),
                _ => new Layout(name).Update(HealthPanel(state, width - 4, size)),
            };
            rows.Add(section.Size(size));
        }

        var eventsHeight = height - 2 - heights.Sum(h => h.Height);
        rows.Add(new Layout("events").Update(EventsPanel(state, width - 4, eventsHeight, now)));
        rows.Add(new Layout("keys").Size(1).Update(KeyBar(state, width)));
        return new Layout("top").SplitRows([.. rows]);
    }

    /// <summary>The screen as lines of text: with ANSI styles for a terminal, or plain (tests, logs).</summary>
    public static string[] RenderLines(TopState state, int width, int height, DateTimeOffset now, bool ansi, ColorSystemSupport colors = ColorSystemSupport.Detect) =>
        Lines(Render(state, width, height, now), width, height, ansi, colors);

    /// <summary>Renders into exactly <paramref name="height"/> lines, each of <paramref name="width"/> cells.</summary>
    public static string[] Lines(IRenderable renderable, int width, int height, bool ansi, ColorSystemSupport colors = ColorSystemSupport.Detect)
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = ansi ? AnsiSupport.Yes : AnsiSupport.No,
            ColorSystem = ansi ? colors : ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(writer),
            Interactive = InteractionSupport.No,
            Enrichment = new ProfileEnrichment { UseDefaultEnrichers = false },
        });
        console.Profile.Width = width;
        console.Profile.Height = height;
        console.Profile.Capabilities.Unicode = true;
        console.Write(renderable);
        var lines = writer.ToString().Split('\n').Select(l => l.TrimEnd('\r')).Take(height).ToList();
        while (lines.Count < height) lines.Add(new string(' ', width));
        return [.. lines];
    }

    // ---- sizes ---------------------------------------------------------------------------------------------

    /// <summary>A table section: borders, a header row and its rows; an empty one shows a line of text instead.</summary>
    private static int Need(int rows) => rows == 0 ? 3 : rows + 3;

    /// <summary>
    /// Gives each section at least its minimum (4 lines, or less if it needs less), then shares out the lines left
    /// fairly: the sections wanting least are served in full first, the largest gets what remains. Sections that do
    /// not fit even at their minimum are left out, the last first.
    /// </summary>
    private static List<(string Name, int Height)> Allocate(List<(string Name, int Need)> wanted, int available)
    {
        var sections = wanted.ToList();
        while (sections.Count > 0 && sections.Sum(s => Math.Min(s.Need, 4)) > available) sections.RemoveAt(sections.Count - 1);
        var heights = sections.Select(s => Math.Min(s.Need, 4)).ToArray();
        var left = available - heights.Sum();
        var order = Enumerable.Range(0, sections.Count).OrderBy(i => sections[i].Need - heights[i]).ToList();
        for (var k = 0; k < order.Count; k++)
        {
            var i = order[k];
            var give = Math.Min(sections[i].Need - heights[i], left / (order.Count - k));
            heights[i] += give;
            left -= give;
        }

        return [.. sections.Select((s, i) => (s.Name, heights[i]))];
    }

    // ---- bars ------------------------------------------------------------------------------------------------

    private static IRenderable TitleBar(TopState state, int width, DateTimeOffset now)
    {
        var status = state.Status;
        var left = new List<(string Text, Style Style)> { (" shoal top ", TitleStyle) };
        if (status is null)
        {
            left.Add(("  connecting to the node…", BarStyle));
        }
        else
        {
            var online = state.Peers.Count(p => p.Online);
            left.Add(($"  {Clean(status.Name)}", new Style(Color.White, Color.Grey19, Decoration.Bold)));
            left.Add(($"  {online}/{state.Peers.Count} peer{(state.Peers.Count == 1 ? "" : "s")} online", BarStyle));
            left.Add(($"  ↓ {Rate(state.DownloadRate)}  ↑ {Rate(state.UploadRate)}", BarStyle));
            if (state.Folder is { } folder) left.Add(($"  folder {FolderState(folder)}", BarStyle));
        }

        var right = (now.ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture) + " ", BarStyle);
        return Bar(width, left, right, BarStyle);
    }

    private static IRenderable KeyBar(TopState state, int width)
    {
        var keys = new List<(string Text, Style Style)> { (" q ", KeyStyle), (" quit  ", BarStyle), (" ↑↓ ", KeyStyle), (" scroll log  ", BarStyle) };
        keys.Add(state.LogScroll > 0 ? (" End ", KeyStyle) : (" PgUp ", KeyStyle));
        keys.Add((state.LogScroll > 0 ? " follow new events " : " page up ", BarStyle));
        var right = state.Status is { } status ? ($"node {status.Version} · {status.Api} ", BarStyle) : ("", BarStyle);
        return Bar(width, keys, right, BarStyle);
    }

    /// <summary>One line filled to the width: the left parts (cut if need be), then the right part flush right.</summary>
    private static Paragraph Bar(int width, List<(string Text, Style Style)> left, (string Text, Style Style) right, Style fill)
    {
        var paragraph = new Paragraph { Overflow = Overflow.Crop };
        var rightWidth = Cells(right.Text);
        var room = width - rightWidth;
        if (room < width / 2)
        {
            rightWidth = 0;
            room = width;
        }

        // Whole parts while they fit, a space kept before the right part; only the first two may be cut.
        var used = 0;
        for (var i = 0; i < left.Count; i++)
        {
            var (text, style) = left[i];
            var part = Cells(text) <= room - used - 1 ? text : i < 2 ? Fit(text, room - used - 1) : "";
            if (part.Length == 0) break;
            paragraph.Append(part, style);
            used += Cells(part);
        }

        paragraph.Append(new string(' ', Math.Max(0, width - used - rightWidth)), fill);
        if (rightWidth > 0) paragraph.Append(right.Text, right.Style);
        return paragraph;
    }

    // ---- peers and traffic -----------------------------------------------------------------------------------

    private static Panel PeersPanel(TopState state, int width, int height, DateTimeOffset now, bool traffic)
    {
        var online = state.Peers.Count(p => p.Online);
        var title = $"[bold white]Peers[/] [green]{online} online[/][grey] of {state.Peers.Count}[/]";
        if (traffic) title += $" [grey]·[/] [green]↓ {Rate(state.DownloadRate)}[/] [deepskyblue1]↑ {Rate(state.UploadRate)}[/]";
        if (state.Peers.Count == 0)
        {
            var text = state.Status is null ? "waiting for the node…" : "no peers known yet: 'shoal invite' on this node, 'shoal init --join CODE' on another";
            return Box(Message(text, width), title);
        }

        List<Column<PeerDto>> columns =
        [
            new("NAME", 0, 0, p => Cell(p.Name, p.Online ? Style.Plain : Dim)),
            new("STATE", 9, 1, p => p.Revoked ? Cell("✕ revoked", Red) : p.Online ? [new("●", Green), new(" online", Style.Plain)] : Cell("○ offline", Dim)),
            new("SEEN", 8, 2, p => Cell(p.Online ? "now" : p.LastSeen is { } seen ? Ago(now - seen) : "never", p.Online ? Style.Plain : Dim), Right: true),
            new("RTT", 8, 3, p => Cell(p.Online && p.RttMs is { } rtt ? Milliseconds(rtt) : "-"), Right: true),
            new("↓ /s", 10, 4, p => RateCell(p.Online ? p.DownloadRate : 0, Green), Right: true),
            new("↑ /s", 10, 5, p => RateCell(p.Online ? p.UploadRate : 0, Blue), Right: true),
            new("RECEIVED", 10, 6, p => Cell(ByteSize.Format(p.DownloadedBytes), Dim), Right: true),
            new("SENT", 10, 7, p => Cell(ByteSize.Format(p.UploadedBytes), Dim), Right: true),
            new("DIR", 3, 8, p => Cell(p.Direction ?? "", Dim)),
            new("LINK", 7, 4, p => Cell(p.Online ? p.Link ?? "" : "", p.Link == "relayed" ? Yellow : Dim)),
            new("ADDRESS", 22, 9, p => Cell(p.Addresses.Count > 0 ? p.Addresses[0] : "", Dim)),
            new("DEVICE", 7, 10, p => Cell(p.Id.Length > 7 ? p.Id[..7] : p.Id, Dim)),
        ];
        return Box(Grid(width, height - 2, columns, state.Peers), title);
    }

    private static Panel TrafficPanel(TopState state, int width, int height)
    {
        const int label = 15;
        var sparkWidth = Math.Max(0, width - label);
        var scale = Math.Max(1024, state.DownloadHistory.TakeLast(sparkWidth).Concat(state.UploadHistory.TakeLast(sparkWidth)).DefaultIfEmpty(0).Max());
        var lines = new List<IRenderable>
        {
            Fitted([new($"↓ {Rate(state.DownloadRate),-12} ", Green), new(Sparkline(state.DownloadHistory, sparkWidth, scale), Green)], width),
            Fitted([new($"↑ {Rate(state.UploadRate),-12} ", Blue), new(Sparkline(state.UploadHistory, sparkWidth, scale), Blue)], width),
        };
        if (state.Status is { } status)
        {
            lines.Add(Fitted(Cell($"received {ByteSize.Format(status.DownloadedBytes)} · sent {ByteSize.Format(status.UploadedBytes)}", Dim), width));
        }

        return Box(new Rows(lines.Take(Math.Max(0, height - 2))), $"[bold white]Traffic[/] [grey]peak {Rate(scale)}[/]");
    }

    /// <summary>The last <paramref name="width"/> samples as bars, right-aligned; an empty past is blank.</summary>
    private static string Sparkline(IReadOnlyList<double> history, int width, double scale)
    {
        var samples = history.TakeLast(width).ToList();
        var text = new StringBuilder(new string(' ', width - samples.Count));
        foreach (var value in samples)
        {
            var level = (int)Math.Round(value / scale * (Spark.Length - 1));
            text.Append(Spark[Math.Clamp(level, 0, Spark.Length - 1)]);
        }

        return text.ToString();
    }

    // ---- transfers and health --------------------------------------------------------------------------------

    /// <summary>A download or a put under way, as one row of the transfers table.</summary>
    private sealed record TransferRow(string Name, string State, long Done, long Size, double Rate, double? Eta, int? Sources, string? Error);

    private static List<TransferRow> TransferRows(TopState state)
    {
        var rows = state.Puts.Select(p => new TransferRow(p.Name, "placing", p.PlacedBytes, p.Size, p.BytesPerSecond, null, null, null)).ToList();
        rows.AddRange(state.Transfers
            .OrderBy(t => t.State switch { "downloading" => 0, "waiting" => 1, "paused" => 2, "failed" => 3, _ => 4 })
            .Select(t => new TransferRow(t.Name, t.State, t.VerifiedBytes, t.Size, t.BytesPerSecond, t.EtaSeconds, t.Sources, t.Error)));
        return rows;
    }

    private static Panel TransfersPanel(TopState state, List<TransferRow> rows, int width, int height)
    {
        var active = rows.Count(r => r.State is "downloading" or "waiting" or "placing");
        var done = rows.Count(r => r.State == "completed");
        var title = $"[bold white]Transfers[/] [cyan]{active} active[/]" + (done > 0 ? $"[grey] · {done} done[/]" : "");
        if (rows.Count == 0)
        {
            return Box(Message(state.Status is null ? "" : "no transfers: 'shoal get LINK' downloads, 'shoal put FILE' stores into the network", width), title);
        }

        var barWidth = Math.Clamp(width / 5, 8, 30);
        List<Column<TransferRow>> columns =
        [
            new("NAME", 0, 0, r => Cell(r.Name)),
            new("PROGRESS", barWidth, 1, r => ProgressBar(r, barWidth)),
            new("%", 4, 1, r => Cell(r.Size == 0 ? r.State == "completed" ? "100%" : "" : $"{Math.Floor(100.0 * r.Done / r.Size):0}%"), Right: true),
            new("RATE", 12, 2, r => Cell(r.State is "downloading" or "placing" ? Rate(r.Rate) : ""), Right: true),
            new("ETA", 7, 3, r => Cell(r.State == "downloading" ? Eta(r.Eta) : "", Dim), Right: true),
            new("STATE", 11, 4, StateCell),
            new("SOURCES", 7, 5, r => Cell(r.Sources is { } n && r.State is "downloading" or "waiting" ? n.ToString(CultureInfo.InvariantCulture) : "", Dim), Right: true),
            new("SIZE", 21, 6, r => Cell(r.State == "completed" ? ByteSize.Format(r.Size) : $"{ByteSize.Format(r.Done)} / {ByteSize.Format(r.Size)}", Dim), Right: true),
        ];
        return Box(Grid(width, height - 2, columns, rows), title);
    }

    private static Span[] ProgressBar(TransferRow row, int width)
    {
        var fraction = row.Size == 0 ? row.State == "completed" ? 1 : 0 : Math.Clamp((double)row.Done / row.Size, 0, 1);
        var filled = (int)Math.Floor(fraction * width);
        var style = row.State switch { "completed" => Green, "failed" => Red, "paused" => Dim, "placing" => Magenta, _ => Blue };
        return [new(new string('█', filled), style), new(new string('░', width - filled), new Style(Color.Grey30))];
    }

    private static Span[] StateCell(TransferRow row) => row.State switch
    {
        "downloading" => Cell("downloading", Blue),
        "waiting" => row.Error is null ? Cell("waiting", Yellow) : [new("waiting ", Yellow), new(Clean(row.Error), Dim)],
        "paused" => Cell("paused", Dim),
        "failed" => Cell(row.Error is null ? "failed" : $"failed: {row.Error}", Red),
        "completed" => Cell("done", Green),
        "placing" => Cell("placing", Magenta),
        _ => Cell(row.State),
    };

    private static Panel HealthPanel(TopState state, int width, int height)
    {
        var files = state.Health ?? [];
        var ok = files.Count(f => f.Copies >= f.Replicas);
        var lost = files.Count(f => f.Copies == 0);
        var degraded = files.Count - ok - lost;
        (int Count, string Color, string Label)[] counts = [(ok, "green", "ok"), (degraded, "yellow", "degraded"), (lost, "red", "unavailable")];
        var title = "[bold white]Replication[/] " + string.Join(" [grey]·[/] ", counts.Where(c => c.Count > 0).Select(c => $"[{c.Color}]{c.Count} {c.Label}[/]"));
        if (files.Count == 0)
        {
            return Box(Message(state.Health is null ? (state.Status is null ? "" : "this node does not report replication") : "no put files: 'shoal put FILE' stores one with N copies", width), title);
        }

        var dots = Math.Min(8, files.Max(f => Math.Max(f.Replicas, f.Copies)));
        var sorted = files.OrderBy(f => (double)f.Copies / Math.Max(1, f.Replicas)).ThenBy(f => f.Name, StringComparer.OrdinalIgnoreCase).ToList();
        List<Column<PutHealthDto>> columns =
        [
            new("FILE", 0, 0, f => Cell(f.Name)),
            new("COPIES", dots + 6, 1, f => Copies(f, dots)),
            new("STATE", 11, 2, f => f.Copies >= f.Replicas ? Cell("ok", Green) : f.Copies == 0 ? Cell("unavailable", Red) : Cell("degraded", Yellow)),
            new("SIZE", 10, 3, f => Cell(ByteSize.Format(f.Size), Dim), Right: true),
        ];
        return Box(Grid(width, height - 2, columns, sorted), title);
    }

    private static Span[] Copies(PutHealthDto file, int dots)
    {
        var style = file.Copies >= file.Replicas ? Green : file.Copies == 0 ? Red : Yellow;
        var have = Math.Min(file.Copies, dots);
        var missing = Math.Max(0, Math.Min(file.Replicas, dots) - have);
        return [new(new string('●', have), style), new(new string('○', missing), Dim), new($"{new string(' ', dots - have - missing)} {file.Copies}/{file.Replicas}", style)];
    }

    // ---- folder events ---------------------------------------------------------------------------------------

    private static Panel EventsPanel(TopState state, int width, int height, DateTimeOffset now)
    {
        var title = "[bold white]Folder[/]";
        if (state.Folder is { } folder)
        {
            var conflicts = folder.Conflicts > 0 ? $" [magenta]{folder.Conflicts} conflict{(folder.Conflicts == 1 ? "" : "s")}[/]" : "";
            var color = folder.State switch { "idle" => "green", "error" => "red", _ => "yellow" };
            var path = Markup.Escape(Fit(Clean(folder.Path), Math.Max(10, width / 3)));
            title += $" [grey]{path}[/] [{color}]{Markup.Escape(FolderState(folder))}[/] [grey]· {Plural(folder.Files, "file")}, {ByteSize.Format(folder.Bytes)}[/]{conflicts}";
        }

        if (state.LogScroll > 0) title += $" [yellow]· {state.LogScroll} newer below[/]";
        var content = height - 2;
        var problem = state.Folder?.Problem is { } text ? Fitted(Cell(text, Red), width) : null;
        if (problem is not null) content--;
        if (state.Events.Count == 0)
        {
            var empty = Message(state.Folder is null ? "" : "no changes yet: what is added, changed, renamed or deleted in the folder shows here, with the node that did it", width);
            return Box(problem is null ? empty : new Rows(problem, empty), title);
        }

        // The newest at the bottom, like a log: the last lines that fit, above wherever the view is scrolled to.
        var visible = Math.Max(0, content - 1);
        var end = Math.Max(0, state.Events.Count - state.LogScroll);
        var shown = state.Events.Skip(Math.Max(0, end - visible)).Take(Math.Min(visible, end)).Select(e => e.Event).ToList();
        var today = now.ToLocalTime().Date;
        var timeWidth = shown.All(e => e.Time.ToLocalTime().Date == today) ? 8 : 16;
        var self = state.Status?.Id;
        List<Column<FolderEventDto>> columns =
        [
            new("WHEN", timeWidth, 1, e => Cell(When(e.Time, today), Dim)),
            new("WHAT", 8, 2, e => Kind(e.Kind)),
            new("PATH", 0, 0, e => Cell(e.Path)),
            new("BY", 16, 3, e => Cell(e.DeviceName, e.Device == self ? Blue : Style.Plain)),
            new("DETAIL", 30, 4, e => Cell(e.Detail, Dim)),
        ];
        var table = Grid(width, content, columns, shown, truncate: false);
        return Box(problem is null ? table : new Rows(problem, table), title);
    }

    private static string When(DateTimeOffset time, DateTime today)
    {
        var local = time.ToLocalTime();
        return local.ToString(local.Date == today ? "HH:mm:ss" : "yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
    }

    private static Span[] Kind(string kind) => Cell(kind, kind switch
    {
        "added" => Green,
        "modified" => Yellow,
        "deleted" => Red,
        "renamed" => Blue,
        "conflict" => Magenta,
        "refused" => new Style(Color.Red, decoration: Decoration.Bold),
        _ => Style.Plain,
    });

    // ---- tables ----------------------------------------------------------------------------------------------

    /// <summary>Text in one style: cells are made of these, so that each can be cut to its column's width.</summary>
    private readonly record struct Span(string Text, Style Style);

    /// <param name="Width">Cells; 0 for the one column that takes what the others leave.</param>
    /// <param name="Priority">Lower shows first: columns are left out from the highest priority on until the rest fit.</param>
    private sealed record Column<T>(string Header, int Width, int Priority, Func<T, Span[]> Cell, bool Right = false);

    /// <summary>
    /// A borderless table exactly <paramref name="width"/> cells wide: a header and as many rows as fit in
    /// <paramref name="height"/> lines (with <paramref name="truncate"/>, the last of them says how many more there are).
    /// </summary>
    private static Table Grid<T>(int width, int height, List<Column<T>> columns, IReadOnlyList<T> items, bool truncate = true)
    {
        var chosen = new HashSet<Column<T>>();
        var used = 0;
        foreach (var column in columns.OrderBy(c => c.Priority))
        {
            var need = (column.Width == 0 ? MinFlexible : column.Width) + (chosen.Count == 0 ? 0 : Gap);
            if (used + need > width && chosen.Count > 0) continue;
            chosen.Add(column);
            used += need;
        }

        var visible = columns.Where(chosen.Contains).ToList();
        var flexible = Math.Max(1, width - visible.Where(c => c.Width > 0).Sum(c => c.Width) - (Gap * (visible.Count - 1)));
        var widths = visible.Select(c => c.Width == 0 ? flexible : c.Width).ToArray();
        var table = new Table { Border = TableBorder.None, ShowHeaders = true };
        for (var i = 0; i < visible.Count; i++)
        {
            var column = visible[i];
            table.AddColumn(new TableColumn(Fitted(Cell(column.Header, HeaderStyle), widths[i]))
            {
                Width = widths[i],
                NoWrap = true,
                Padding = new Padding(0, 0, i == visible.Count - 1 ? 0 : Gap, 0),
                Alignment = column.Right ? Justify.Right : Justify.Left,
            });
        }

        // Every cell is cut to its width first: a table would wrap a long one onto more lines than there are.
        // A "+N more" line only when it leaves a row to show; the titles give the counts anyway.
        var room = Math.Max(0, height - 1);
        var more = truncate && items.Count > room && room >= 2 ? items.Count - room + 1 : 0;
        foreach (var item in items.Take(more > 0 ? room - 1 : room))
        {
            table.AddRow(visible.Select((c, i) => (IRenderable)Fitted(c.Cell(item), widths[i])));
        }

        if (more > 0)
        {
            table.AddRow([Fitted(Cell($"+{more} more", Dim), widths[0]), .. visible.Skip(1).Select(_ => Text.Empty)]);
        }

        return table;
    }

    private static Panel Box(IRenderable content, string title) => new(content)
    {
        Header = new PanelHeader($" {title} "),
        Border = BoxBorder.Rounded,
        BorderStyle = BorderStyle,
        Expand = true,
        Padding = new Padding(1, 0, 1, 0),
    };

    private static IRenderable TooSmall(int width, int height)
    {
        var text = new Text($"terminal too small\n{width}x{height}, top needs {MinWidth}x{MinHeight}\nq quits", Style.Plain) { Justification = Justify.Center };
        return new Layout("too-small").Update(new Align(text, HorizontalAlignment.Center, VerticalAlignment.Middle));
    }

    // ---- text ------------------------------------------------------------------------------------------------

    public static string FolderState(FolderDto folder) => folder.State switch
    {
        "idle" => "in sync",
        "syncing" => $"syncing {folder.NeedFiles} file{(folder.NeedFiles == 1 ? "" : "s")}",
        _ => folder.State,
    };

    public static string Rate(double bytesPerSecond) => ByteSize.Format(bytesPerSecond) + "/s";

    public static string Ago(TimeSpan age)
    {
        if (age < TimeSpan.Zero) age = TimeSpan.Zero;
        return age.TotalSeconds < 60 ? $"{age.TotalSeconds:0}s ago"
            : age.TotalMinutes < 60 ? $"{age.TotalMinutes:0}m ago"
            : age.TotalHours < 48 ? $"{age.TotalHours:0}h ago"
            : $"{age.TotalDays:0}d ago";
    }

    public static string Eta(double? seconds)
    {
        if (seconds is not { } s || double.IsNaN(s) || double.IsInfinity(s) || s > TimeSpan.FromDays(99).TotalSeconds) return "--:--";
        var span = TimeSpan.FromSeconds(Math.Ceiling(s));
        return span.ToString(span.TotalHours >= 1 ? @"h\:mm\:ss" : @"m\:ss", CultureInfo.InvariantCulture);
    }

    public static string Plural(int count, string noun) => $"{count} {noun}{(count == 1 ? "" : "s")}";

    private static string Milliseconds(double ms) => ms < 10 ? $"{ms:0.0} ms" : $"{ms:0} ms";

    /// <summary>Names come from other nodes: a control character in one must not reach the terminal.</summary>
    public static string Clean(string text)
    {
        if (!text.Any(char.IsControl)) return text;
        return string.Create(text.Length, text, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++) span[i] = char.IsControl(source[i]) ? '?' : source[i];
        });
    }

    private static Span[] Cell(string text, Style? style = null) => [new(Clean(text), style ?? Style.Plain)];

    /// <summary>One line of at most <paramref name="width"/> cells: what does not fit is cut, ending in "…".</summary>
    private static Paragraph Fitted(Span[] spans, int width)
    {
        var paragraph = new Paragraph { Overflow = Overflow.Crop };
        var fits = spans.Sum(s => Cells(s.Text)) <= width;
        var used = 0;
        foreach (var span in spans)
        {
            var text = fits || used + Cells(span.Text) < width ? span.Text : Fit(span.Text, width - used);
            if (text.Length > 0) paragraph.Append(text, span.Style);
            used += Cells(text);
            if (!fits && text != span.Text) break;
        }

        return paragraph;
    }

    private static Span[] RateCell(double rate, Style style) => Cell(rate >= 1 ? ByteSize.Format(rate) : "-", rate >= 1 ? style : Dim);

    private static Paragraph Message(string text, int width) => Fitted(Cell(text, Dim), width);

    private static int Cells(string text) => new Segment(text).CellCount();

    /// <summary>Cuts <paramref name="text"/> to at most <paramref name="cells"/> cells, ending in "…" when cut.</summary>
    public static string Fit(string text, int cells)
    {
        if (cells <= 0) return "";
        if (Cells(text) <= cells) return text;
        var result = new StringBuilder();
        var used = 0;
        var elements = StringInfo.GetTextElementEnumerator(text);
        while (elements.MoveNext())
        {
            var element = elements.GetTextElement();
            var width = Cells(element);
            if (used + width > cells - 1) break;
            result.Append(element);
            used += width;
        }

        return result.Append('…').ToString();
    }
}
