using System.Globalization;
using System.Text.Json;
using Shoal.Cli.Top;
using Shoal.Node.Api;
using Spectre.Console.Rendering;

namespace Shoal.Integration.Tests;

/// <summary>The screen of <c>shoal top</c> rendered from a made-up state at fixed sizes, without a node or a terminal.</summary>
public sealed class TopViewTests
{
    // Early in the UTC day: in every time zone, all the made-up events fall on the same local day as this.
    private static readonly DateTimeOffset Now = new(2026, 3, 14, 6, 0, 30, TimeSpan.Zero);
    private const string SelfId = "SELFSEL-FAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA";

    [Theory]
    [InlineData(120, 40)]
    [InlineData(80, 24)]
    [InlineData(200, 60)]
    [InlineData(110, 30)]
    [InlineData(40, 10)]
    [InlineData(30, 8)]
    [InlineData(1, 1)]
    public void Every_size_renders_exactly_its_height_in_lines_of_its_width(int width, int height)
    {
        var lines = Render(Busy(peers: 6, events: 30), width, height);
        Assert.Equal(height, lines.Length);
        Assert.All(lines, line => Assert.Equal(width, Cells(line)));
    }

    [Fact]
    public void A_wide_screen_shows_peers_traffic_transfers_replication_and_the_folder_log()
    {
        var screen = string.Join('\n', Render(Busy(peers: 3, events: 5), 140, 40));

        Assert.Contains("shoal top", screen, StringComparison.Ordinal);
        Assert.Contains("alpha", screen, StringComparison.Ordinal);
        Assert.Contains("Peers 2 online of 3", screen, StringComparison.Ordinal);
        Assert.Contains("● online", screen, StringComparison.Ordinal);
        Assert.Contains("○ offline", screen, StringComparison.Ordinal);
        Assert.Contains("5m ago", screen, StringComparison.Ordinal); // when the offline peer was last seen
        Assert.Contains("0.4 ms", screen, StringComparison.Ordinal);
        Assert.Contains("Traffic", screen, StringComparison.Ordinal);
        Assert.Contains("↓ 1.5 MiB/s", screen, StringComparison.Ordinal);

        Assert.Contains("Transfers 2 active", screen, StringComparison.Ordinal);
        var transfer = Line(screen, "big.iso");
        Assert.Contains("█", transfer, StringComparison.Ordinal);
        Assert.Contains("░", transfer, StringComparison.Ordinal);
        Assert.Contains("25%", transfer, StringComparison.Ordinal);
        Assert.Contains("1.0 MiB/s", transfer, StringComparison.Ordinal);
        Assert.Contains("0:48", transfer, StringComparison.Ordinal); // 48 MiB left at 1 MiB/s
        Assert.Contains("downloading", transfer, StringComparison.Ordinal);
        Assert.Contains("placing", Line(screen, "backup.tar"), StringComparison.Ordinal);

        Assert.Contains("Replication 1 ok · 1 degraded", screen, StringComparison.Ordinal);
        Assert.Contains("●●○ 2/3", Line(screen, "photos.zip"), StringComparison.Ordinal);
        Assert.Contains("degraded", Line(screen, "photos.zip"), StringComparison.Ordinal);
        Assert.Contains("ok", Line(screen, "notes.db"), StringComparison.Ordinal);

        Assert.Contains("Folder /data/sync in sync", screen, StringComparison.Ordinal);
        var newest = Line(screen, "docs/file-4.txt");
        Assert.Contains(EventTime(4).ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture), newest, StringComparison.Ordinal);
        Assert.Contains("added", newest, StringComparison.Ordinal);
        Assert.Contains("beta", newest, StringComparison.Ordinal);

        // The log reads like one: oldest first, the newest at the bottom.
        Assert.True(screen.IndexOf("docs/file-0.txt", StringComparison.Ordinal) < screen.IndexOf("docs/file-4.txt", StringComparison.Ordinal));
        Assert.Contains("q  quit", screen, StringComparison.Ordinal);
    }

    [Fact]
    public void A_narrow_screen_moves_the_rates_into_the_peers_title_and_stacks_the_panels()
    {
        var lines = Render(Busy(peers: 3, events: 5), 80, 24);
        var screen = string.Join('\n', lines);
        Assert.DoesNotContain("Traffic", screen, StringComparison.Ordinal);
        Assert.Contains("↓ 1.5 MiB/s", Line(screen, "Peers"), StringComparison.Ordinal);
        Assert.True(Index(lines, "Transfers") < Index(lines, "Replication"));
        Assert.True(Index(lines, "Replication") < Index(lines, "Folder"));
        Assert.Contains("docs/file-4.txt", screen, StringComparison.Ordinal);

        // Every panel is whole: as many bottom corners as top ones.
        Assert.Equal(lines.Count(l => l.StartsWith('╭')), lines.Count(l => l.StartsWith('╰')));
    }

    [Fact]
    public void What_does_not_fit_says_how_much_more_there_is_and_every_panel_stays_closed()
    {
        var lines = Render(Busy(peers: 40, events: 200), 100, 30);
        var screen = string.Join('\n', lines);
        Assert.Matches(@"\+\d+ more", screen);
        Assert.Equal(4, lines.Count(l => l.StartsWith('╭')));
        Assert.Equal(4, lines.Count(l => l.StartsWith('╰')));
        Assert.Contains("docs/file-199.txt", screen, StringComparison.Ordinal); // the log shows the newest
    }

    [Fact]
    public void Scrolling_back_shows_older_events_and_says_how_many_newer_ones_are_below()
    {
        var state = Busy(peers: 2, events: 100);
        state.ScrollLog(50);
        var screen = string.Join('\n', Render(state, 120, 40));
        Assert.DoesNotContain("docs/file-99.txt", screen, StringComparison.Ordinal);
        Assert.Contains("docs/file-49.txt", screen, StringComparison.Ordinal);
        Assert.Contains("50 newer below", screen, StringComparison.Ordinal);

        // New events while scrolled back keep the same lines in view.
        state.Apply("folder", Json(Folder(101), ApiJson.Default.FolderDto));
        Assert.Equal(51, state.LogScroll);
        Assert.Contains("docs/file-49.txt", string.Join('\n', Render(state, 120, 40)), StringComparison.Ordinal);

        state.FollowLog();
        Assert.Contains("docs/file-100.txt", string.Join('\n', Render(state, 120, 40)), StringComparison.Ordinal);
    }

    [Fact]
    public void Before_the_first_snapshot_it_says_it_is_connecting_and_a_tiny_terminal_asks_for_more_room()
    {
        Assert.Contains("connecting to the node", string.Join('\n', Render(new TopState(), 80, 24)), StringComparison.Ordinal);
        Assert.Contains("39x20, top needs 40x10", string.Join('\n', Render(Busy(2, 2), 39, 20)), StringComparison.Ordinal);
    }

    [Fact]
    public void Control_characters_in_names_from_other_nodes_never_reach_the_terminal()
    {
        var state = Busy(peers: 1, events: 0);
        state.Apply("peers", Json([Peer("ev\u001b[2J\u001b]0;x\u0007", online: true)], ApiJson.Default.IReadOnlyListPeerDto));
        var ansi = TopView.RenderLines(state, 120, 30, Now, ansi: true, Spectre.Console.ColorSystemSupport.TrueColor);
        var screen = string.Join('\n', ansi);
        Assert.DoesNotContain("\u001b[2J", screen, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b]0;", screen, StringComparison.Ordinal);
        Assert.DoesNotContain("\u0007", screen, StringComparison.Ordinal);
        Assert.Contains("ev?[2J?]0;x?", screen, StringComparison.Ordinal);
    }

    [Fact]
    public void State_merges_the_events_of_each_snapshot_without_repeating_them()
    {
        var state = new TopState();
        Assert.True(state.Apply("folder", Json(Folder(3), ApiJson.Default.FolderDto)));
        Assert.True(state.Apply("folder", Json(Folder(5), ApiJson.Default.FolderDto)));
        Assert.Equal(["docs/file-0.txt", "docs/file-1.txt", "docs/file-2.txt", "docs/file-3.txt", "docs/file-4.txt"], state.Events.Select(e => e.Event.Path));
        Assert.Equal([1L, 2, 3, 4, 5], state.Events.Select(e => e.Sequence));
        Assert.False(state.Apply("files", """{"version":3}"""));
        Assert.Throws<InvalidDataException>(() => state.Apply("peers", "{not json"));
    }

    [Fact]
    public void The_parser_reads_kinds_multi_line_data_and_skips_comments()
    {
        var text = ": keep-alive\n\nevent: status\ndata: {\"a\":1}\n\nevent: folder\ndata: one\ndata: two\n\ndata: plain\n\n: bye\n";
        var parser = new ServerSentEventParser();
        var messages = text.Split('\n').Select(parser.Feed).OfType<ServerSentEvent>().ToList();
        Assert.Equal([new("status", "{\"a\":1}"), new("folder", "one\ntwo"), new("message", "plain")], messages);
    }

    [Fact]
    public void Plain_lines_give_a_summary_then_each_new_event_and_peer_change()
    {
        var state = Busy(peers: 2, events: 3);
        var output = new StringWriter();
        var report = new PlainReport(output);
        report.Report(state, Now);
        var first = output.ToString();
        Assert.Contains("alpha: peers 1/2 online", first, StringComparison.Ordinal);
        Assert.Contains("transfers big.iso 25% 1.0 MiB/s ETA 0:48 from 2", first, StringComparison.Ordinal);
        Assert.Contains("folder in sync, 12 files", first, StringComparison.Ordinal);
        Assert.Contains("replication 1 ok, 1 degraded", first, StringComparison.Ordinal);
        Assert.DoesNotContain("file-2.txt", first, StringComparison.Ordinal); // history, not news

        output.GetStringBuilder().Clear();
        state.Apply("folder", Json(Folder(4), ApiJson.Default.FolderDto));
        state.Apply("peers", Json([Peer("beta", online: false), Peer("gamma", online: false)], ApiJson.Default.IReadOnlyListPeerDto));
        report.Report(state, Now.AddSeconds(1));
        var next = output.ToString();
        Assert.Contains("folder modified docs/file-3.txt by alpha", next, StringComparison.Ordinal);
        Assert.DoesNotContain("file-2.txt", next, StringComparison.Ordinal);
        Assert.Contains("peer beta offline", next, StringComparison.Ordinal);
        Assert.DoesNotContain("alpha:", next, StringComparison.Ordinal); // the summary waits its 2 s

        report.Report(state, Now.AddSeconds(3));
        Assert.Contains("alpha: peers 0/2 online", output.ToString(), StringComparison.Ordinal);
    }

    // ---- a made-up node --------------------------------------------------------------------------------------

    private static string[] Render(TopState state, int width, int height) => TopView.RenderLines(state, width, height, Now, ansi: false);

    private static int Cells(string line) => new Segment(line).CellCount();

    private static string Line(string screen, string containing) =>
        screen.Split('\n').FirstOrDefault(l => l.Contains(containing, StringComparison.Ordinal)) ?? throw new Xunit.Sdk.XunitException($"no line with '{containing}' in\n{screen}");

    private static int Index(string[] lines, string containing) => Array.FindIndex(lines, l => l.Contains(containing, StringComparison.Ordinal));

    private static string Json<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) => JsonSerializer.Serialize(value, type);

    /// <summary>Alpha with two online peers and the rest offline, a download, a put, two put files and some folder events.</summary>
    private static TopState Busy(int peers, int events)
    {
        var state = new TopState();
        var folder = Folder(events);
        state.Apply("status", Json(
            new StatusDto(SelfId, "alpha", "NET", ["127.0.0.1:7420"], [], "http://127.0.0.1:7421", 2, peers, 1, 3 << 20, 5 << 20, "0.1.0", "/home/alpha", folder, []),
            ApiJson.Default.StatusDto));
        var list = Enumerable.Range(0, peers).Select(i => i switch
        {
            0 => Peer("beta", online: true),
            1 => Peer("gamma", online: peers == 2 ? false : true),
            _ => Peer($"node-{i:00}", online: false),
        }).ToList();
        state.Apply("peers", Json(list, ApiJson.Default.IReadOnlyListPeerDto));
        state.Apply("transfers", Json(
            [
                new TransferDto("T1", "shoal:T1", "big.iso", 64 << 20, "downloading", 16 << 20, 4, 16, 1 << 20, 48, 2, 16 << 20, null, null, "/tmp", []),
                new TransferDto("T2", "shoal:T2", "old.bin", 1 << 20, "completed", 1 << 20, 1, 1, 0, null, 0, 1 << 20, null, "/tmp/old.bin", "/tmp", []),
            ],
            ApiJson.Default.IReadOnlyListTransferDto));
        state.Apply("puts", Json([new PutProgressDto("P1", "backup.tar", 10 << 20, 5 << 20, 2 << 20)], ApiJson.Default.IReadOnlyListPutProgressDto));
        state.Apply("health", Json([new PutHealthDto("H1", "notes.db", 1 << 20, 2, 2), new PutHealthDto("H2", "photos.zip", 9 << 20, 3, 2)], ApiJson.Default.IReadOnlyListPutHealthDto));
        for (var shown = Math.Min(50, events); ; shown = Math.Min(shown + 50, events))
        {
            // A snapshot carries the newest 50: the log collects more, as it would while top runs.
            state.Apply("folder", Json(Folder(shown), ApiJson.Default.FolderDto));
            if (shown == events) break;
        }

        state.Tick();
        return state;
    }

    private static PeerDto Peer(string name, bool online) => new(
        $"{name.ToUpperInvariant()}-ID", name, online, ["10.0.0.2:7420"], Now.AddMinutes(-5), online ? 0.4 : null, online ? "out" : null,
        1 << 20, 2 << 20, online && name == "beta" ? 512 << 10 : 0, online && name == "beta" ? 1.5 * (1 << 20) : 0, false);

    private static DateTimeOffset EventTime(int i) => Now.AddSeconds(i - 250);

    /// <summary>The folder after events 0..count-1, a second apart; the newest 50, newest first, as the node sends them.</summary>
    private static FolderDto Folder(int count)
    {
        var events = Enumerable.Range(0, count)
            .Select(i => new FolderEventDto(EventTime(i), $"docs/file-{i}.txt", i % 2 == 0 ? "added" : "modified", i % 3 == 0 ? SelfId : "BETA-ID", i % 3 == 0 ? "alpha" : "beta", ""))
            .Reverse()
            .Take(50)
            .ToList();
        return new FolderDto("/data/sync", "idle", 0, 12, 3 << 20, 2, 0, Now, null, events);
    }
}
