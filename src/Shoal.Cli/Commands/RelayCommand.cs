using Microsoft.Extensions.Logging;
using Shoal.Core;
using Shoal.Net.Connections;
using Shoal.Net.Relay;
using Shoal.Node.Peers;

namespace Shoal.Cli.Commands;

public static class RelayCommand
{
    /// <summary>For tests only, and so not a flag: a file that gets a copy of every byte the relay forwards.</summary>
    public const string TapVariable = "SHOAL_RELAY_TAP";

    public static async Task<int> RunAsync(Arguments args)
    {
        if (args.Positionals.Count > 0) throw new UsageException($"unexpected '{args.Positionals[0]}'");
        var defaults = new RelayLimits();
        var sessions = args.Int("--sessions") ?? defaults.SessionsPerNetwork;
        if (sessions < 1) throw new UsageException("--sessions: at least 1");
        var rate = defaults.BytesPerSecondPerNetwork;
        if (args.Value("--rate") is { } rateText && !ByteSize.TryParse(rateText, out rate)) throw new UsageException($"--rate: '{rateText}' is not a size like 20M");
        System.Net.IPEndPoint listen;
        try
        {
            listen = Endpoints.ParseListen(args.Value("--listen") ?? $"[::]:{NatTraversal.DefaultRelayPort}", NatTraversal.DefaultRelayPort);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--listen: {e.Message}");
        }

        using var log = Foreground.CreateLog(args);
        await using var tap = Environment.GetEnvironmentVariable(TapVariable) is { Length: > 0 } path ? new FileStream(path, FileMode.Append, FileAccess.Write) : null;
        using var stop = Foreground.StopOnSignal();
        await using var relay = RelayServer.Start(listen, defaults with { SessionsPerNetwork = sessions, BytesPerSecondPerNetwork = rate }, log.Factory.CreateLogger("shoal.relay"), TimeProvider.System, tap);
        log.Say($"Shoal relay is up on {Endpoints.Format(relay.EndPoint)}.");
        await Foreground.WaitAsync(stop.Token, log).ConfigureAwait(false);
        return ExitCodes.Success;
    }
}
