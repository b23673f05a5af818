using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Shoal.Cli.Commands;

/// <summary>What the long-running commands (<c>up</c>, <c>tracker</c>) share: console logging and a clean stop on a signal.</summary>
internal static class Foreground
{
    /// <summary>
    /// Console logging in the format --log-format names: plain (one line, local time), json (one object per line,
    /// UTC timestamps, the message's values as fields) or systemd (syslog priority prefixes, no timestamps: the
    /// journal adds them). Without the flag: systemd when the output goes to the journal (JOURNAL_STREAM is set), else plain.
    /// </summary>
    public static ForegroundLog CreateLog(Arguments args)
    {
        var level = ParseLogLevel(args.Value("--log-level"));
        var format = args.Value("--log-format") ?? (Environment.GetEnvironmentVariable("JOURNAL_STREAM") is { Length: > 0 } ? "systemd" : "plain");
        if (format is not ("plain" or "json" or "systemd")) throw new UsageException($"--log-format: '{format}' is not one of plain, json, systemd");
        var factory = LoggerFactory.Create(logging =>
        {
            // A web server that cannot start is reported once, as the command's error, not also as a logged stack trace.
            logging.SetMinimumLevel(level).AddFilter("Microsoft", LogLevel.Warning).AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
            _ = format switch
            {
                "json" => logging.AddJsonConsole(console =>
                {
                    console.UseUtcTimestamp = true;
                    console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                    console.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
                }),
                "systemd" => logging.AddSystemdConsole(console => console.TimestampFormat = null),
                _ => logging.AddSimpleConsole(console =>
                {
                    console.SingleLine = true;
                    console.TimestampFormat = "HH:mm:ss ";
                }),
            };
        });
        return new ForegroundLog(factory, format == "json");
    }

    /// <summary>A token cancelled by SIGINT or SIGTERM, which then no longer kill the process outright.</summary>
    public static StopSignal StopOnSignal() => new();

    /// <summary>Returns once the token is cancelled, saying so.</summary>
    public static async Task WaitAsync(CancellationToken stop, ForegroundLog log)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            log.Say("Shutting down.");
        }
    }

    /// <summary>The loggers of a foreground command, and what it tells its user (as a log entry when every line must be JSON).</summary>
    internal sealed class ForegroundLog(ILoggerFactory factory, bool json) : IDisposable
    {
        private readonly ILogger _logger = factory.CreateLogger("shoal");

        public ILoggerFactory Factory => factory;

        public void Say(string text)
        {
            if (json) _logger.LogInformation("{Text}", text);
            else Console.Out.WriteLine(text);
        }

        public void Dispose() => factory.Dispose();
    }

    private static LogLevel ParseLogLevel(string? text) => text?.ToLowerInvariant() switch
    {
        null => LogLevel.Information,
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "info" or "information" => LogLevel.Information,
        "warn" or "warning" => LogLevel.Warning,
        "error" => LogLevel.Error,
        _ => throw new UsageException($"--log-level: '{text}' is not one of trace, debug, information, warning, error"),
    };

    internal sealed class StopSignal : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly PosixSignalRegistration _sigint;
        private readonly PosixSignalRegistration _sigterm;

        public StopSignal()
        {
            _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        }

        public CancellationToken Token => _stop.Token;

        public void Dispose()
        {
            _sigint.Dispose();
            _sigterm.Dispose();
            _stop.Dispose();
        }

        private void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            _stop.Cancel();
        }
    }
}
