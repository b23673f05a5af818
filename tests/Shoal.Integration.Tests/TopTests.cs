using System.Diagnostics;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Shoal.Integration.Tests.Support;

namespace Shoal.Integration.Tests;

/// <summary><c>shoal top</c> against real nodes: in a real terminal (tmux), and with stdout a pipe.</summary>
public sealed class TopTests
{
    [Fact]
    public async Task In_a_terminal_top_shows_peers_and_folder_events_live_follows_resizes_and_quits_on_q_or_ctrl_c()
    {
        Assert.True(TmuxSession.Available(), "tmux is not installed: apt-get install tmux (.ci/run does)");
        using var dir = new TempDirectory("shoal-top");
        var (homeA, homeB) = (dir.Combine("a"), dir.Combine("b"));
        Assert.Equal(0, (await ShoalCli.RunAsync("init", "--home", homeA, "--name", "alpha")).ExitCode);
        await using var a = await NodeProcess.StartAsync(homeA);
        var invite = (await ShoalCli.RunAsync("invite", "--home", homeA)).Stdout.Trim();
        Assert.Equal(0, (await ShoalCli.RunAsync("init", "--home", homeB, "--name", "beta", "--join", invite)).ExitCode);
        await using var b = await NodeProcess.StartAsync(homeB);

        await using (var top = await StartTopAsync(homeA, 120, 40))
        {
            var screen = await top.WaitForAsync(s => s.Contains(" alpha ", StringComparison.Ordinal) && Regex.IsMatch(s, @"beta\s+● online") && IsWhole(s, 40), "alpha's top to show beta online");
            Assert.Contains("Traffic", screen, StringComparison.Ordinal); // the wide layout
            Assert.Contains("Transfers 0 active", screen, StringComparison.Ordinal);
            Assert.Contains("no put files", screen, StringComparison.Ordinal);
            AssertFills(screen, 120, 40);

            // A file written on beta reaches alpha's folder: the log says what, which path, which node.
            await File.WriteAllTextAsync(Path.Combine(homeB, "folder", "from-beta.txt"), "hello from beta");
            await top.WaitForAsync(s => Regex.IsMatch(s, @"added\s+from-beta\.txt\s+beta"), "the folder event from beta");

            // A smaller terminal: laid out again (the rates move into the peers' title, the traffic panel goes).
            await top.ResizeAsync(80, 24);
            screen = await top.WaitForAsync(s => s.Contains("Peers 1 online of 1 · ↓", StringComparison.Ordinal) && !s.Contains("Traffic", StringComparison.Ordinal) && IsWhole(s, 24), "the 80x24 layout");
            AssertFills(screen, 80, 24);
            Assert.Matches(@"added\s+from-beta\.txt\s+beta", screen);

            await top.SendKeysAsync("q");
            screen = await top.WaitForAsync(s => s.Contains("[top exited with 0]", StringComparison.Ordinal), "top to quit on q");
            Assert.DoesNotContain("Peers", screen, StringComparison.Ordinal); // the terminal's own screen is back
        }

        await using (var top = await StartTopAsync(homeA, 100, 30))
        {
            await top.WaitForAsync(s => Regex.IsMatch(s, @"beta\s+● online"), "top to start again");
            await b.StopAsync();
            await top.WaitForAsync(s => Regex.IsMatch(s, @"beta\s+○ offline"), "beta to go offline on alpha's top");
            await top.SendKeysAsync("C-c");
            await top.WaitForAsync(s => s.Contains("[top exited with 0]", StringComparison.Ordinal), "top to quit on Ctrl-C");
        }

        await using (var top = await StartTopAsync(homeA, 100, 30))
        {
            await top.WaitForAsync(s => s.Contains(" alpha ", StringComparison.Ordinal), "top to start once more");
            await a.StopAsync();
            var screen = await top.WaitForAsync(s => s.Contains("[top exited with 3]", StringComparison.Ordinal), "top to end when its node stops");
            Assert.Contains("the node of " + homeA + " stopped", screen.Replace("\n", "", StringComparison.Ordinal), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task With_stdout_not_a_terminal_top_prints_plain_lines_until_stopped_or_the_node_stops()
    {
        using var dir = new TempDirectory("shoal-top-plain");
        var home = dir.Combine("a");
        Assert.Equal(0, (await ShoalCli.RunAsync("init", "--home", home, "--name", "alpha")).ExitCode);
        await using var node = await NodeProcess.StartAsync(home);

        using (var top = PlainTop.Start(home))
        {
            var summary = await top.WaitForLineAsync(l => l.Contains("folder in sync", StringComparison.Ordinal), "the summary line");
            Assert.Matches(@"^\d\d:\d\d:\d\d alpha: peers 0/0 online · ↓ 0 B/s ↑ 0 B/s · no transfers · folder in sync, \d+ files?, ", summary);
            Assert.DoesNotContain('\u001b', summary);

            await File.WriteAllTextAsync(Path.Combine(home, "folder", "note.txt"), "a note");
            await top.WaitForLineAsync(l => Regex.IsMatch(l, @"^\d\d:\d\d:\d\d folder added note\.txt by alpha"), "the folder event's own line");

            // SIGTERM (or Ctrl-C) ends it quietly.
            Assert.Equal(0, await top.StopAsync());
        }

        using (var top = PlainTop.Start(home))
        {
            await top.WaitForLineAsync(l => l.Contains("alpha: peers 0/0 online", StringComparison.Ordinal), "the summary line");
            await node.StopAsync();
            Assert.Equal(3, await top.ExitCodeAsync());
            Assert.Contains("stopped", await top.StderrAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Top_without_a_running_node_exits_3()
    {
        using var dir = new TempDirectory("shoal-top-none");
        var home = dir.Combine("a");
        Assert.Equal(0, (await ShoalCli.RunAsync("init", "--home", home, "--name", "alpha")).ExitCode);
        var result = await ShoalCli.RunAsync("top", "--home", home);
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("is not running", result.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, (await ShoalCli.RunAsync("top", "--home", home, "extra")).ExitCode);
    }

    private static Task<TmuxSession> StartTopAsync(string home, int width, int height) =>
        TmuxSession.StartAsync(width, height, ShoalCli.RepositoryRoot, $"./shoal top --home '{home}'; echo \"[top exited with $?]\"; sleep 600");

    /// <summary>
    /// A frame is one write, but the terminal may take it in more than one read: a capture can catch a frame half drawn,
    /// so a test waits for the footer on the last row before it looks at the layout.
    /// </summary>
    private static bool IsWhole(string screen, int height)
    {
        var lines = screen.TrimEnd('\n').Split('\n');
        return lines.Length == height && lines[^1].StartsWith(" q  quit", StringComparison.Ordinal);
    }

    /// <summary>The screen is the whole terminal: every row used, none wider than the terminal.</summary>
    private static void AssertFills(string screen, int width, int height)
    {
        var lines = screen.TrimEnd('\n').Split('\n');
        Assert.Equal(height, lines.Length);
        Assert.All(lines, line => Assert.InRange(line.Length, 1, width));
        Assert.StartsWith(" shoal top", lines[0], StringComparison.Ordinal);
        Assert.StartsWith(" q  quit", lines[^1], StringComparison.Ordinal);
    }

    /// <summary><c>shoal top</c> with stdout and stderr pipes, its lines collected as they come.</summary>
    private sealed class PlainTop : IDisposable
    {
        private readonly Process _process;
        private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
        private readonly List<string> _seen = [];
        private readonly Task<string> _stderr;

        private PlainTop(Process process)
        {
            _process = process;
            _stderr = process.StandardError.ReadToEndAsync();
            _ = Task.Run(async () =>
            {
                while (await process.StandardOutput.ReadLineAsync() is { } line) _lines.Writer.TryWrite(line);
                _lines.Writer.TryComplete();
            });
        }

        public static PlainTop Start(string home)
        {
            var process = Process.Start(ShoalCli.StartInfo("top", "--home", home))!;
            process.StandardInput.Close();
            return new PlainTop(process);
        }

        public async Task<string> WaitForLineAsync(Func<string, bool> matches, string what)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                while (await _lines.Reader.ReadAsync(timeout.Token) is var line)
                {
                    _seen.Add(line);
                    if (matches(line)) return line;
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
            {
                // Said below, with everything it printed.
            }

            throw new TimeoutException($"no line with {what}; top printed:\n{string.Join('\n', _seen)}\nstderr: {(_process.HasExited ? await _stderr : "")}");
        }

        public async Task<int> StopAsync()
        {
            Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
            return await ExitCodeAsync();
        }

        public async Task<int> ExitCodeAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _process.WaitForExitAsync(timeout.Token);
            return _process.ExitCode;
        }

        public Task<string> StderrAsync() => _stderr;

        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.Dispose();
        }
    }
}
