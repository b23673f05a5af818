using System.Text.Json;
using Shoal.Net.Connections;
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

    public static int Password(Arguments args)
    {
        if (args.Positionals.Count > 0) throw new UsageException("the password is read from stdin, not taken as an argument (it would show in the process list)");
        var home = CommandLine.HomeOf(args);
        if (!home.IsInitialised) throw new InvalidOperationException($"{home.Root} is not initialised; run 'shoal init' first");
        var config = NodeConfig.Load(home);
        if (args.Has("--clear"))
        {
            (config with { ApiPasswordHash = null }).Save(home);
            Console.Out.WriteLine("The web UI password is removed; the node will listen on loopback only. Restart the node to apply.");
            return ExitCodes.Success;
        }

        var password = ReadSecret("Web UI password: ");
        if (password.Length < 8) throw new ArgumentException("use a password of at least 8 characters");
        (config with { ApiPasswordHash = PasswordHash.Create(password) }).Save(home);
        Console.Out.WriteLine("The web UI password is set. A running node applies it at its next start.");
        return ExitCodes.Success;
    }

    private static string ReadSecret(string prompt)
    {
        if (Console.IsInputRedirected) return (Console.In.ReadLine() ?? "").TrimEnd('\r');
        Console.Error.Write(prompt);
        var text = new System.Text.StringBuilder();
        while (Console.ReadKey(intercept: true) is var key && key.Key != ConsoleKey.Enter)
        {
            if (key.Key == ConsoleKey.Backspace && text.Length > 0) text.Length--;
            else if (!char.IsControl(key.KeyChar)) text.Append(key.KeyChar);
        }

        Console.Error.WriteLine();
        return text.ToString();
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
        var listen = Endpoints.ParseListen(config.Listen, NodeConfig.DefaultPeerPort);
        return ShoalNode.AdvertisedAddresses(listen);
    }

    public static async Task<int> UpAsync(Arguments args)
    {
        if (args.Positionals.Count > 0) throw new UsageException($"unexpected '{args.Positionals[0]}'");
        using var log = Foreground.CreateLog(args);
        var home = CommandLine.HomeOf(args);
        var options = new NodeOptions(home)
        {
            Listen = args.Value("--listen"),
            Api = args.Value("--api"),
            Peers = args.Values("--peer"),
            Trackers = args.Values("--tracker"),
            Folder = args.Value("--folder"),
            Discovery = args.Has("--no-discovery") ? false : null,
            AllowSubnets = args.Values("--allow-subnet"),
            DiscoveryPort = args.Int("--discovery-port"),
            UploadLimit = args.Bytes("--limit-up"),
            StoreQuota = args.Bytes("--store-quota"),
            DownAfter = args.Int("--down-after") is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
            DownloadLimit = args.Bytes("--limit-down"),
            MaxPeers = args.Int("--max-peers"),
            LoggerFactory = log.Factory,
        };

        using var stop = Foreground.StopOnSignal();
        await using var node = await ShoalNode.StartAsync(options, stop.Token).ConfigureAwait(false);
        log.Say($"Shoal node '{node.Name}' ({node.DeviceId}) is up.");
        log.Say($"Peers: {Endpoints.Format(node.ListenEndPoint)}   Web UI: {node.ApiUrl}");
        await Foreground.WaitAsync(stop.Token, log).ConfigureAwait(false);
        return ExitCodes.Success;
    }
}
