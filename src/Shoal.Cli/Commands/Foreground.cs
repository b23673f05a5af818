using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Shoal.Cli.Commands;

/// <summary>What the long-running commands (<c>up</c>, <c>tracker</c>) share: console logging and a clean stop on a signal.</summary>
internal static class Foreground
{
    public static ILoggerFactory CreateLoggerFactory(Arguments args)
    {
        var level = ParseLogLevel(args.Value("--log-level"));
        return LoggerFactory.Create(logging => logging
            .SetMinimumLevel(level)
            .AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.TimestampFormat = "HH:mm:ss ";
            })
            .AddFilter("Microsoft", LogLevel.Warning));
    }

    /// <summary>A token cancelled by SIGINT or SIGTERM, which then no longer kill the process outright.</summary>
    public static StopSignal StopOnSignal() => new();

    /// <summary>Returns once the token is cancelled, saying so.</summary>
    public static async Task WaitAsync(CancellationToken stop)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Console.Out.WriteLine("Shutting down.");
        }
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
