using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading.Channels;
using Shoal.Cli.Top;

namespace Shoal.Cli.Commands;

/// <summary>
/// <c>shoal top</c>: follows the node's event stream (GET /api/events) and shows it, full screen on a terminal
/// (redrawn at most <see cref="FrameInterval"/> apart, only when something changed or the terminal was resized),
/// as plain lines otherwise. Nothing is polled: the node pushes every change, and a 1 s tick only moves the clock,
/// the "ago" texts and the traffic graph along.
/// </summary>
public static class TopCommand
{
    private static readonly TimeSpan FrameInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan TickInterval = TimeSpan.FromSeconds(1);

    public static async Task<int> RunAsync(Arguments args, CancellationToken cancellationToken)
    {
        if (args.Positionals.Count > 0) throw new UsageException("takes no arguments");
        var home = CommandLine.HomeOf(args);
        using var client = ApiClient.Connect(home);
        using var signal = Foreground.StopOnSignal();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(signal.Token, cancellationToken);
        Stream stream;
        try
        {
            stream = await client.OpenStreamAsync("api/events", home, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (signal.Token.IsCancellationRequested)
        {
            return ExitCodes.Success;
        }

        await using (stream.ConfigureAwait(false))
        {
            var inputs = Channel.CreateUnbounded<Input>(new UnboundedChannelOptions { SingleReader = true });
            var pump = PumpAsync(stream, inputs.Writer, stop.Token);
            try
            {
                var fullScreen = !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("TERM") is not (null or "" or "dumb");
                var ended = fullScreen
                    ? await RunFullScreenAsync(inputs, stop.Token).ConfigureAwait(false)
                    : await RunPlainAsync(inputs.Reader, stop.Token).ConfigureAwait(false);
                if (ended is null) return ExitCodes.Success;
                Console.Error.WriteLine($"shoal top: the node of {home.Root} stopped{(ended.Length == 0 ? "" : $" ({ended})")}");
                return ExitCodes.NodeNotRunning;
            }
            finally
            {
                await stop.CancelAsync().ConfigureAwait(false);
                await pump.ConfigureAwait(false);
            }
        }
    }

    /// <summary>What wakes the loop: a message from the node, a key, the terminal changing, or the stream's end.</summary>
    private abstract record Input;

    private sealed record Message(ServerSentEvent Event) : Input;

    private sealed record Key(ConsoleKeyInfo Info) : Input;

    /// <summary>SIGWINCH: a new size. SIGCONT: back from Ctrl-Z, the screen needs setting up again.</summary>
    private sealed record Terminal(bool Resumed) : Input;

    /// <summary>The node closed the stream (it stopped): why, or "" when it just ended.</summary>
    private sealed record Ended(string Reason) : Input;

    private static async Task PumpAsync(Stream stream, ChannelWriter<Input> inputs, CancellationToken cancellationToken)
    {
        var reason = "";
        try
        {
            using var reader = new StreamReader(stream, Encoding.UTF8);
            await foreach (var message in ServerSentEventParser.ReadAllAsync(reader, cancellationToken).ConfigureAwait(false))
            {
                inputs.TryWrite(new Message(message));
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e) when (e is IOException or HttpRequestException or ObjectDisposedException)
        {
            // The connection broke: the node went away without closing the stream (a kill, a crash).
            reason = e.Message;
        }

        inputs.TryWrite(new Ended(reason));
    }

    // ---- full screen -----------------------------------------------------------------------------------------

    /// <summary>Until q, Esc or Ctrl-C (null) or until the node ends the stream (the reason).</summary>
    private static async Task<string?> RunFullScreenAsync(Channel<Input> inputs, CancellationToken stop)
    {
        var state = new TopState();
        var screen = new TerminalScreen(Console.Out);
        using var signals = OperatingSystem.IsWindows() ? null : new TerminalSignals(inputs.Writer);
        if (!Console.IsInputRedirected) StartKeyReader(inputs.Writer);
        screen.Enter();
        try
        {
            var clock = Stopwatch.StartNew();
            var lastFrame = -FrameInterval;
            var nextTick = TickInterval;
            var drawn = (Version: -1L, Width: 0, Height: 0);
            while (true)
            {
                var (width, height) = WindowSize();
                var dirty = drawn != (state.Version, width, height);
                var sinceFrame = clock.Elapsed - lastFrame;
                if (dirty && sinceFrame >= FrameInterval)
                {
                    screen.Draw(TopView.RenderLines(state, width, height, DateTimeOffset.Now, ansi: true), width, height);
                    drawn = (state.Version, width, height);
                    lastFrame = clock.Elapsed;
                    continue;
                }

                var wait = dirty ? FrameInterval - sinceFrame : nextTick - clock.Elapsed;
                if (!await WaitAsync(inputs.Reader, wait, stop).ConfigureAwait(false)) return null;
                while (inputs.Reader.TryRead(out var input))
                {
                    switch (input)
                    {
                        case Message { Event: var e }:
                            state.Apply(e.Kind, e.Data);
                            break;
                        case Key { Info: var key } when IsQuit(key):
                            return null;
                        case Key { Info: { Key: ConsoleKey.L, Modifiers: ConsoleModifiers.Control } }:
                            drawn = default; // Ctrl-L: paint every line again
                            screen.Invalidate();
                            break;
                        case Key { Info: var key }:
                            OnKey(key, state, height);
                            break;
                        case Terminal { Resumed: true }:
                            drawn = default;
                            screen.Enter();
                            break;
                        case Ended { Reason: var reason }:
                            return reason;
                    }
                }

                if (clock.Elapsed >= nextTick)
                {
                    state.Tick();
                    nextTick = clock.Elapsed + TickInterval;
                }
            }
        }
        finally
        {
            screen.Leave();
        }
    }

    /// <summary>SIGWINCH (a new size) and SIGCONT (back from Ctrl-Z: the shell drew over the screen) wake the loop.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private sealed class TerminalSignals(ChannelWriter<Input> inputs) : IDisposable
    {
        private readonly PosixSignalRegistration[] _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGWINCH, _ => inputs.TryWrite(new Terminal(Resumed: false))),
            PosixSignalRegistration.Create(PosixSignal.SIGCONT, _ => inputs.TryWrite(new Terminal(Resumed: true))),
        ];

        public void Dispose()
        {
            foreach (var registration in _registrations) registration.Dispose();
        }
    }

    private static bool IsQuit(ConsoleKeyInfo key) =>
        key.Key is ConsoleKey.Q or ConsoleKey.Escape || (key.Key == ConsoleKey.C && key.Modifiers.HasFlag(ConsoleModifiers.Control));

    private static void OnKey(ConsoleKeyInfo key, TopState state, int height)
    {
        var page = Math.Max(1, height / 2);
        switch (key.Key)
        {
            case ConsoleKey.UpArrow or ConsoleKey.K:
                state.ScrollLog(1);
                break;
            case ConsoleKey.DownArrow or ConsoleKey.J:
                state.ScrollLog(-1);
                break;
            case ConsoleKey.PageUp:
                state.ScrollLog(page);
                break;
            case ConsoleKey.PageDown:
                state.ScrollLog(-page);
                break;
            case ConsoleKey.Home:
                state.ScrollLog(int.MaxValue / 2);
                break;
            case ConsoleKey.End:
                state.FollowLog();
                break;
        }
    }

    /// <summary>Keys come from a thread of their own: Console.ReadKey blocks, and reads with echo off meanwhile.</summary>
    private static void StartKeyReader(ChannelWriter<Input> inputs)
    {
        var thread = new Thread(() =>
        {
            try
            {
                while (inputs.TryWrite(new Key(Console.ReadKey(intercept: true))))
                {
                }
            }
            catch (Exception e) when (e is InvalidOperationException or IOException)
            {
                // No keyboard after all (stdin closed): q cannot be read, Ctrl-C still quits.
            }
        })
        {
            IsBackground = true,
            Name = "shoal top keys",
        };
        thread.Start();
    }

    private static (int Width, int Height) WindowSize()
    {
        try
        {
            return (Math.Max(1, Console.WindowWidth), Math.Max(1, Console.WindowHeight));
        }
        catch (IOException)
        {
            return (80, 24);
        }
    }

    // ---- plain lines -----------------------------------------------------------------------------------------

    /// <summary>Until Ctrl-C or SIGTERM (null) or until the node ends the stream (the reason).</summary>
    private static async Task<string?> RunPlainAsync(ChannelReader<Input> inputs, CancellationToken stop)
    {
        var state = new TopState();
        var report = new PlainReport(Console.Out);
        while (true)
        {
            if (!await WaitAsync(inputs, PlainReport.SummaryInterval, stop).ConfigureAwait(false)) return null;
            while (inputs.TryRead(out var input))
            {
                if (input is Ended { Reason: var reason })
                {
                    report.Report(state, DateTimeOffset.Now);
                    return reason;
                }

                if (input is Message { Event: var e }) state.Apply(e.Kind, e.Data);
            }

            report.Report(state, DateTimeOffset.Now);
        }
    }

    /// <summary>Waits until an input is there or <paramref name="timeout"/> passed; false once <paramref name="stop"/> is cancelled.</summary>
    private static async Task<bool> WaitAsync(ChannelReader<Input> inputs, TimeSpan timeout, CancellationToken stop)
    {
        if (stop.IsCancellationRequested) return false;
        if (timeout <= TimeSpan.Zero) return true;
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(stop);
        wait.CancelAfter(timeout);
        try
        {
            await inputs.WaitToReadAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The timeout, or the stop checked below.
        }

        return !stop.IsCancellationRequested;
    }
}
