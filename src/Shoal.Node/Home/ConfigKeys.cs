using System.Globalization;
using System.Net;
using System.Text.Json;
using Shoal.Core;
using Shoal.Net.Connections;
using Shoal.Node.Peers;
using Shoal.Node.Tracking;

namespace Shoal.Node.Home;

/// <summary>What a setting's value is, for showing it as JSON and completing it in a shell.</summary>
public enum ConfigValueKind
{
    Text,

    /// <summary>An absolute directory; empty means the default under the home.</summary>
    Directory,

    /// <summary>HOST:PORT.</summary>
    Address,

    /// <summary>Comma-separated; empty clears it.</summary>
    List,

    Boolean,

    Number,

    /// <summary>Bytes, written like 20M; 0 is unlimited.</summary>
    Size,
}

/// <summary>
/// One setting of config.json as <c>shoal config</c> and the API show and change it: read as text, parsed and
/// validated from text, and whether a running node applies it at once or only at its next start.
/// </summary>
public sealed class ConfigKey
{
    private readonly Func<NodeConfig, NodeHome, string> _read;
    private readonly Func<NodeConfig, string, NodeConfig> _set;

    internal ConfigKey(string name, ConfigValueKind kind, bool appliesAtOnce, string description, Func<NodeConfig, NodeHome, string> read, Func<NodeConfig, string, NodeConfig> set)
    {
        Name = name;
        Kind = kind;
        AppliesAtOnce = appliesAtOnce;
        Description = description;
        _read = read;
        _set = set;
    }

    /// <summary>As in config.json (camelCase).</summary>
    public string Name { get; }

    public ConfigValueKind Kind { get; }

    /// <summary>A running node uses a new value at once; otherwise from its next start.</summary>
    public bool AppliesAtOnce { get; }

    public string Description { get; }

    /// <summary>The value as text that <see cref="TrySet"/> accepts back (a default filled in).</summary>
    public string Read(NodeConfig config, NodeHome home) => _read(config, home);

    /// <summary>Parses and validates <paramref name="value"/>; <paramref name="error"/> is one line naming the key.</summary>
    public bool TrySet(NodeConfig config, string value, out NodeConfig changed, out string error)
    {
        try
        {
            changed = _set(config, value.Trim());
            error = "";
            return true;
        }
        catch (ConfigValueException e)
        {
            changed = config;
            error = $"{Name}: {e.Message}";
            return false;
        }
    }

    /// <summary>Writes a value read by <see cref="Read"/> as its JSON type: a number, a boolean, an array or a string.</summary>
    public void WriteJson(Utf8JsonWriter writer, string text)
    {
        ArgumentNullException.ThrowIfNull(writer);
        switch (Kind)
        {
            case ConfigValueKind.Number:
                writer.WriteNumberValue(long.Parse(text, CultureInfo.InvariantCulture));
                break;
            case ConfigValueKind.Size:
                writer.WriteNumberValue(ByteSize.TryParse(text, out var bytes) ? bytes : 0);
                break;
            case ConfigValueKind.Boolean:
                writer.WriteBooleanValue(text == "true");
                break;
            case ConfigValueKind.List:
                writer.WriteStartArray();
                foreach (var item in ConfigKeys.SplitList(text)) writer.WriteStringValue(item);
                writer.WriteEndArray();
                break;
            default:
                writer.WriteStringValue(text);
                break;
        }
    }
}

/// <summary>
/// Every setting <c>shoal config</c> and <c>PUT /api/config/{key}</c> may show and change, with its validation: the one
/// place that knows what a good value is. The web UI password is not among them (<c>shoal password</c> sets it).
/// </summary>
public static class ConfigKeys
{
    public static IReadOnlyList<ConfigKey> All { get; } =
    [
        new("name", ConfigValueKind.Text, true, "this node's name, as peers and the web UI show it",
            (c, _) => c.Name, (c, v) => c with { Name = ValidName(v) }),
        new("folder", ConfigValueKind.Directory, false, "the synced folder (empty: HOME/folder)",
            (c, h) => c.Folder ?? h.DefaultFolder, (c, v) => c with { Folder = FolderPath(v) }),
        new("downloads", ConfigValueKind.Directory, true, "where gets that name no directory, and the web UI's, save files (empty: HOME/downloads)",
            (c, h) => c.Downloads ?? h.DefaultDownloads, (c, v) => c with { Downloads = DownloadsPath(v) }),
        new("listen", ConfigValueKind.Address, false, "peer protocol address, e.g. [::]:7420 (every interface)",
            (c, _) => c.Listen, (c, v) => c with { Listen = ListenAddress(v, NodeConfig.DefaultPeerPort) }),
        new("api", ConfigValueKind.Address, false, "web UI and API address, e.g. 127.0.0.1:7421 (another host needs a password: shoal password)",
            (c, _) => c.Api, (c, v) => c with { Api = ApiAddress(v, c.ApiPasswordHash is not null) }),
        new("peers", ConfigValueKind.List, true, "peers to keep connected to, HOST:PORT,... (a running node dials added ones at once)",
            (c, _) => JoinList(c.Peers), (c, v) => c with { Peers = List(v, PeerAddress) }),
        new("trackers", ConfigValueKind.List, false, "tracker URLs, http://HOST:PORT,...",
            (c, _) => JoinList(c.Trackers), (c, v) => c with { Trackers = List(v, TrackerUrl) }),
        new("relays", ConfigValueKind.List, true, "relays to reach members behind NAT through, HOST:PORT,... (trackers may offer more)",
            (c, _) => JoinList(c.Relays), (c, v) => c with { Relays = List(v, PeerAddress) }),
        new("relayListen", ConfigValueKind.Text, false, "relay for members behind NAT on this address, e.g. [::]:7424 (empty: do not relay)",
            (c, _) => c.RelayListen ?? "", (c, v) => c with { RelayListen = v.Length == 0 ? null : ListenAddress(v, Peers.NatTraversal.DefaultRelayPort) }),
        new("allowSubnets", ConfigValueKind.List, false, "only peers from these subnets may connect, CIDR,... (empty: any)",
            (c, _) => JoinList(c.AllowSubnets), (c, v) => c with { AllowSubnets = List(v, Subnet) }),
        new("discovery", ConfigValueKind.Boolean, false, "announce on the LAN and listen for announcements: true or false",
            (c, _) => c.Discovery ? "true" : "false", (c, v) => c with { Discovery = Boolean(v) }),
        new("discoveryPort", ConfigValueKind.Number, false, "UDP port of LAN discovery",
            (c, _) => Number(c.DiscoveryPort), (c, v) => c with { DiscoveryPort = (int)Whole(v, 1, 65535) }),
        new("uploadLimit", ConfigValueKind.Size, true, "bytes per second sent to peers, e.g. 20M (0: unlimited)",
            (c, _) => FormatSize(c.UploadLimit), (c, v) => c with { UploadLimit = Size(v) }),
        new("downloadLimit", ConfigValueKind.Size, true, "bytes per second received from peers, e.g. 20M (0: unlimited)",
            (c, _) => FormatSize(c.DownloadLimit), (c, v) => c with { DownloadLimit = Size(v) }),
        new("storeQuota", ConfigValueKind.Size, false, "room for chunks kept for others (put files), e.g. 50G",
            (c, _) => FormatSize(c.StoreQuota), (c, v) => c with { StoreQuota = Size(v) }),
        new("trashDays", ConfigValueKind.Number, false, "days that files deleted or replaced in the synced folder stay in HOME/trash",
            (c, _) => Number(c.TrashDays), (c, v) => c with { TrashDays = (int)Whole(v, 0, 36_500) }),
        new("downAfterSeconds", ConfigValueKind.Number, false, "seconds a silent node may take before its chunks are copied elsewhere",
            (c, _) => Number(c.DownAfterSeconds), (c, v) => c with { DownAfterSeconds = (int)Whole(v, 1, 86_400 * 30) }),
        new("maxPeers", ConfigValueKind.Number, false, "peer links at once; more are asked to come back later (0: no limit)",
            (c, _) => Number(c.MaxPeers), (c, v) => c with { MaxPeers = (int)Whole(v, 0, 65_535) }),
    ];

    /// <summary>The key of that name (any case), or null.</summary>
    public static ConfigKey? Find(string name) => All.FirstOrDefault(k => string.Equals(k.Name, name, StringComparison.OrdinalIgnoreCase));

    public static string UnknownKey(string name) => $"'{name}' is not a setting; the settings are {string.Join(", ", All.Select(k => k.Name))}";

    /// <summary>Sets one key from text: false with a one-line error for an unknown key or a bad value.</summary>
    public static bool TrySet(NodeConfig config, string key, string value, out NodeConfig changed, out string error)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (Find(key) is not { } found)
        {
            changed = config;
            error = UnknownKey(key);
            return false;
        }

        return found.TrySet(config, value, out changed, out error);
    }

    /// <summary>
    /// Which keys changed between two configs but take effect only at a node's next start: those not applied at once,
    /// and peers when one was removed (added ones are dialled at once; a removed one is dropped at the next start).
    /// </summary>
    public static IReadOnlyList<string> RestartRequired(NodeConfig before, NodeConfig after, NodeHome home)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        var restart = All.Where(k => !k.AppliesAtOnce && k.Read(before, home) != k.Read(after, home)).Select(k => k.Name).ToList();
        if (before.Peers.Except(after.Peers, StringComparer.OrdinalIgnoreCase).Any()) restart.Add("peers");
        return restart;
    }

    internal static IEnumerable<string> SplitList(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Bytes as the shortest text <see cref="ByteSize.TryParse"/> reads back exactly: 20M, 1536K, 0.</summary>
    public static string FormatSize(long bytes)
    {
        foreach (var (unit, factor) in new[] { ("G", 1L << 30), ("M", 1L << 20), ("K", 1L << 10) })
        {
            if (bytes != 0 && bytes % factor == 0) return Number(bytes / factor) + unit;
        }

        return Number(bytes);
    }

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string JoinList(IReadOnlyList<string> items) => string.Join(",", items);

    private static string ValidName(string value)
    {
        if (value.Length is 0 or > 64 || value.Any(char.IsControl)) throw new ConfigValueException("1 to 64 characters, no control characters");
        return value;
    }

    private static string? FolderPath(string value)
    {
        if (value.Length == 0) return null;
        var path = AbsolutePath(value);
        if (File.Exists(path)) throw new ConfigValueException($"'{value}' is a file, not a directory");
        return path;
    }

    private static string? DownloadsPath(string value)
    {
        if (value.Length == 0) return null;
        var path = AbsolutePath(value);
        try
        {
            Directory.CreateDirectory(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigValueException($"cannot use {path}: {e.Message}");
        }

        return path;
    }

    private static string AbsolutePath(string value) =>
        Path.IsPathFullyQualified(value) ? Path.GetFullPath(value) : throw new ConfigValueException($"'{value}' is not an absolute path");

    private static string ListenAddress(string value, int defaultPort)
    {
        if (!Endpoints.TryParse(value, defaultPort, out var host, out _, out var error))
        {
            throw new ConfigValueException($"'{value}' is not HOST:PORT ({error.Replace($"'{value}': ", "", StringComparison.Ordinal)})");
        }

        if (host is not ("*" or "localhost") && !IPAddress.TryParse(host, out _))
        {
            throw new ConfigValueException($"'{value}' is not HOST:PORT with an IP address as HOST (or '*' / '[::]' for every interface)");
        }

        return value;
    }

    private static string ApiAddress(string value, bool passwordSet)
    {
        ListenAddress(value, NodeConfig.DefaultApiPort);
        var endPoint = Endpoints.ParseListen(value, NodeConfig.DefaultApiPort);
        if (!passwordSet && !IPAddress.IsLoopback(endPoint.Address))
        {
            throw new ConfigValueException($"'{value}' would let other computers reach the web UI: set a password first (shoal password), or keep it on 127.0.0.1");
        }

        return value;
    }

    private static string PeerAddress(string value)
    {
        if (!Endpoints.TryParse(value, NodeConfig.DefaultPeerPort, out _, out _, out var error))
        {
            throw new ConfigValueException($"'{value}' is not HOST:PORT ({error.Replace($"'{value}': ", "", StringComparison.Ordinal)})");
        }

        return value;
    }

    private static string TrackerUrl(string value) =>
        TrackerClient.TryParseUrl(value, out _, out var error) ? value : throw new ConfigValueException(error);

    private static string Subnet(string value) =>
        SubnetPolicy.TryParseSubnet(value, out var network, out var error) ? network.ToString() : throw new ConfigValueException(error);

    private static List<string> List(string value, Func<string, string> item) =>
        [.. SplitList(value).Select(item).Distinct(StringComparer.OrdinalIgnoreCase)];

    private static bool Boolean(string value) => value.ToLowerInvariant() switch
    {
        "true" or "yes" or "on" or "1" => true,
        "false" or "no" or "off" or "0" => false,
        _ => throw new ConfigValueException($"'{value}' is not true or false"),
    };

    private static long Whole(string value, long min, long max) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= min && number <= max
            ? number
            : throw new ConfigValueException($"'{value}' is not a whole number from {Number(min)} to {Number(max)}");

    private static long Size(string value) =>
        ByteSize.TryParse(value, out var bytes) && bytes >= 0
            ? bytes
            : throw new ConfigValueException($"'{value}' is not a size (e.g. 500K, 20M, 1G; 0 for unlimited)");
}

/// <summary>A bad value for a setting; <see cref="ConfigKey.TrySet"/> turns it into one line naming the key.</summary>
internal sealed class ConfigValueException(string message) : Exception(message);
