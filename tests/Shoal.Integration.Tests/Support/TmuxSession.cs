using System.Diagnostics;

namespace Shoal.Integration.Tests.Support;

/// <summary>
/// A command running in a real terminal: a detached tmux session on a tmux server of its own (its socket name starts
/// with <see cref="SocketPrefix"/>, so nothing touches anyone's own tmux and CI can sweep what a killed test left).
/// The test reads the screen with capture-pane and types with send-keys.
/// </summary>
public sealed class TmuxSession : IAsyncDisposable
{
    public const string SocketPrefix = "shoal-test-";

    private readonly string _socket;
    private string _socketPath = "";

    private TmuxSession(string socket, string name)
    {
        _socket = socket;
        Name = name;
    }

    public string Name { get; }

    /// <summary>Starts <paramref name="command"/> (a shell command line) in a <paramref name="width"/> x <paramref name="height"/> terminal.</summary>
    public static async Task<TmuxSession> StartAsync(int width, int height, string workingDirectory, string command)
    {
        var id = Guid.NewGuid().ToString("N")[..12];
        var session = new TmuxSession(SocketPrefix + id, "top-" + id);
        var started = await session.TmuxAsync(
            "new-session", "-d", "-s", session.Name, "-x", width.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-y", height.ToString(System.Globalization.CultureInfo.InvariantCulture), "-c", workingDirectory, command);
        if (started.ExitCode != 0) throw new InvalidOperationException($"tmux new-session failed: {started.Stderr}");
        session._socketPath = (await session.TmuxAsync("display-message", "-p", "#{socket_path}")).Stdout.Trim();
        return session;
    }

    /// <summary>Whether tmux is installed (.ci/run installs it).</summary>
    public static bool Available()
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo("tmux", "-V") { RedirectStandardOutput = true, RedirectStandardError = true })!;
            process.WaitForExit();
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    /// <summary>The screen as it shows now, one string per line (trailing spaces trimmed by tmux).</summary>
    public async Task<string> CaptureAsync()
    {
        var result = await TmuxAsync("capture-pane", "-p", "-t", Name);
        return result.ExitCode == 0 ? result.Stdout : $"(no pane: {result.Stderr.Trim()})";
    }

    /// <summary>Polls the screen until <paramref name="condition"/> holds; fails with the last screen when it never does.</summary>
    public async Task<string> WaitForAsync(Func<string, bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            var screen = await CaptureAsync();
            if (condition(screen)) return screen;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out waiting for {what}; the screen:\n{screen}");
            await Task.Delay(50);
        }
    }

    public Task SendKeysAsync(params string[] keys) => TmuxAsync(["send-keys", "-t", Name, .. keys]);

    public Task ResizeAsync(int width, int height) =>
        TmuxAsync("resize-window", "-t", Name, "-x", width.ToString(System.Globalization.CultureInfo.InvariantCulture), "-y", height.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public async ValueTask DisposeAsync()
    {
        await TmuxAsync("kill-server");

        // A server that was killed leaves its socket file behind.
        if (_socketPath.Length > 0) File.Delete(_socketPath);
    }

    private async Task<CliResult> TmuxAsync(params string[] args)
    {
        var info = new ProcessStartInfo("tmux") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("-u"); // UTF-8 whatever the locale says: top draws boxes and bars
        info.ArgumentList.Add("-L");
        info.ArgumentList.Add(_socket);
        foreach (var arg in args) info.ArgumentList.Add(arg);

        // The terminal inside is tmux's own; what the test runner's environment says about its terminal must not leak in.
        info.Environment["TERM"] = "xterm-256color";
        info.Environment["LANG"] = "C.UTF-8";
        info.Environment.Remove("LC_ALL");
        info.Environment.Remove("TMUX");
        info.Environment.Remove(Shoal.Node.Home.NodeHome.EnvironmentVariable);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }
}
