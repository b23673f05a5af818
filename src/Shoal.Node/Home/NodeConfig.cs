using System.Text.Json;
using System.Text.Json.Serialization;
using Shoal.Storage;

namespace Shoal.Node.Home;

/// <summary>The node's settings file (config.json in the home). Command-line flags on <c>up</c> override it for one run.</summary>
public sealed record NodeConfig
{
    public const int DefaultPeerPort = 7420;
    public const int DefaultApiPort = 7421;

    public string Name { get; init; } = Environment.MachineName;

    /// <summary>Peer protocol address; "[::]:7420" is every interface, IPv4 and IPv6.</summary>
    public string Listen { get; init; } = $"[::]:{DefaultPeerPort}";

    public string Api { get; init; } = $"127.0.0.1:{DefaultApiPort}";

    public IReadOnlyList<string> Peers { get; init; } = [];

    public IReadOnlyList<string> Trackers { get; init; } = [];

    /// <summary>Relays (HOST:PORT) to reach members behind NAT through, with those the trackers offer.</summary>
    public IReadOnlyList<string> Relays { get; init; } = [];

    /// <summary>Where this node relays for members of its network (HOST:PORT); null or empty: it does not.</summary>
    public string? RelayListen { get; init; }

    public string? Folder { get; init; }

    /// <summary>Where downloads from the web UI go (and gets that name no directory); default HOME/downloads.</summary>
    public string? Downloads { get; init; }

    /// <summary>PBKDF2 hash of the web UI password (see <c>shoal password</c>); required for an API off loopback.</summary>
    public string? ApiPasswordHash { get; init; }

    public bool Discovery { get; init; } = true;

    /// <summary>UDP port for LAN announcements (IPv4 broadcast and IPv6 multicast).</summary>
    public int DiscoveryPort { get; init; } = Shoal.Net.Discovery.DiscoveryOptions.DefaultPort;

    /// <summary>CIDR subnets that may connect or announce; empty means any.</summary>
    public IReadOnlyList<string> AllowSubnets { get; init; } = [];

    /// <summary>Bytes per second; 0 is unlimited.</summary>
    public long UploadLimit { get; init; }

    public long DownloadLimit { get; init; }

    /// <summary>Bytes of chunks this node keeps for others (put files); placement skips a node without room.</summary>
    public long StoreQuota { get; init; } = DefaultStoreQuota;

    public const long DefaultStoreQuota = 10L << 30;

    /// <summary>Days that files deleted or replaced in the synced folder stay in HOME/trash.</summary>
    public int TrashDays { get; init; } = 30;

    /// <summary>Seconds a node may be silent before it counts as down and its chunks are copied elsewhere.</summary>
    public int DownAfterSeconds { get; init; } = 30;

    /// <summary>Peer links at once; a device dialling in beyond them is asked to come back later (0: no limit).</summary>
    public int MaxPeers { get; init; } = DefaultMaxPeers;

    public const int DefaultMaxPeers = 64;

    public static NodeConfig Load(NodeHome home)
    {
        try
        {
            var config = JsonSerializer.Deserialize(File.ReadAllText(home.ConfigPath), NodeConfigJson.Default.NodeConfig)
                ?? throw new InvalidDataException("the file is empty");
            if (config.StoreQuota < 0) throw new InvalidDataException($"{home.ConfigPath}: storeQuota must be 0 or more bytes");
            if (config.TrashDays < 0) throw new InvalidDataException($"{home.ConfigPath}: trashDays must be 0 or more");
            if (config.DownAfterSeconds < 1) throw new InvalidDataException($"{home.ConfigPath}: downAfterSeconds must be at least 1");
            if (config.MaxPeers < 0) throw new InvalidDataException($"{home.ConfigPath}: maxPeers must be 0 or more");
            return config;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{home.ConfigPath} is not valid: {e.Message}", e);
        }
    }

    public void Save(NodeHome home) =>
        AtomicFile.WriteAllText(home.ConfigPath, JsonSerializer.Serialize(this, NodeConfigJson.Default.NodeConfig) + "\n");
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true)]
[JsonSerializable(typeof(NodeConfig))]
internal sealed partial class NodeConfigJson : JsonSerializerContext;
