using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Shoal.Node;
using Shoal.Node.Api;
using Shoal.Node.Home;

namespace Shoal.Cli.Commands;

public static class NodeCommands
{
    public static int Init(Arguments args)
    {
        if (args.Positionals.Count > 0) throw new UsageException($"unexpected '{args.Positionals[0]}'");
        var home = CommandLine.HomeOf(args);
        var result = NodeSetup.Init(home, args.Value("--name"), args.Value("--folder"), args.Value("--join"));
        if (result.AlreadyInitialised)
        {
            Console.Out.WriteLine($"{home.Root} is already initialised; nothing changed.");
        }
        else if (result.Joined)
        {
            Console.Out.WriteLine($"Joined network {result.Network}. Start the node with: shoal up");
        }
        else
        {
            Console.Out.WriteLine($"Created network {result.Network}. Invite other computers with: shoal invite");
        }

        Console.Out.WriteLine($"Device ID: {result.DeviceId}");
        return ExitCodes.Success;
    }

    /// <summary>With the node running, the invite carries the addresses it actually listens on.</summary>
    public static int Invite(Arguments args)
    {
        var home = CommandLine.HomeOf(args);
        if (!home.IsInitialised) throw new InvalidOperationException($"{home.Root} is not initialised; run 'shoal init' first");
        var addresses = RunningAddresses(home) ?? ConfiguredAddresses(home);
        Console.Out.WriteLine(NodeSetup.CreateInvite(home, addresses));
        return ExitCodes.Success;
    }

    private static IReadOnlyList<string>? RunningAddresses(NodeHome home)
    {
        try
        {
            using var client = ApiClient.Connect(home);
            var status = client.GetAsync("api/status", ApiJson.Default.StatusDto, home, CancellationToken.None).GetAwaiter().GetResult();
            return status.Addresses;
        }
        catch (Exception e) when (e is NodeNotRunningException or ApiException or HttpRequestException)
        {
            return null;
        }
    }

    private static IReadOnlyList<string> ConfiguredAddresses(NodeHome home)
    {
        var config = NodeConfig.Load(home);
        var listen = Shoal.Node.Peers.Endpoints.ParseListen(config.Listen, NodeConfig.DefaultPeerPort);
        return ShoalNode.AdvertisedAddresses(listen);
    }

    public static async Task<int> UpAsync(Arguments args)
    {
        if (args.Positionals.Count > 0) throw new UsageException($"unexpected '{args.Positionals[0]}'");
        var level = ParseLogLevel(args.Value("--log-level"));
        using var loggerFactory = LoggerFactory.Create(logging => logging
            .SetMinimumLevel(level)
            .AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.TimestampFormat = "HH:mm:ss ";
            })
            .AddFilter("Microsoft", LogLevel.Warning));
        var home = CommandLine.HomeOf(args);
        var options = new NodeOptions(home)
        {
            Listen = args.Value("--listen"),
            Api = args.Value("--api"),
            Peers = args.Values("--peer"),
            Folder = args.Value("--folder"),
            Discovery = args.Has("--no-discovery") ? false : null,
            AllowSubnets = args.Values("--allow-subnet"),
            DiscoveryPort = args.Int("--discovery-port"),
            UploadLimit = args.Bytes("--limit-up"),
            StoreQuota = args.Bytes("--store-quota"),
            DownAfter = args.Int("--down-after") is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
            DownloadLimit = args.Bytes("--limit-down"),
            LoggerFactory = loggerFactory,
        };

        using var stop = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        // Both flags are part of the public surface already; until their features land, say so instead of ignoring them.
        if (args.Values("--tracker").Count > 0) Console.Error.WriteLine("shoal up: trackers are not supported by this version yet; --tracker is ignored");
        await using var node = await ShoalNode.StartAsync(options, stop.Token).ConfigureAwait(false);
        Console.Out.WriteLine($"Shoal node '{node.Name}' ({node.DeviceId}) is up.");
        Console.Out.WriteLine($"Peers: {Shoal.Node.Peers.Endpoints.Format(node.ListenEndPoint)}   Web UI: {node.ApiUrl}");
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Console.Out.WriteLine("Shutting down.");
        }

        return ExitCodes.Success;

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
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
}
