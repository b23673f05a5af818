using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Xml.Linq;

namespace Shoal.Bench.Peers;

/// <summary>
/// One Syncthing instance (Debian's <c>syncthing</c>) on loopback, with its own home, for the side-by-side scenario.
/// Its config is written before the first start with everything that would reach beyond this machine turned off
/// (discovery, relays, NAT/UPnP and STUN, usage and crash reporting, upgrades); devices and the shared folder are then
/// added through its REST API. The process is registered with <see cref="NodeProcess"/>, so the bench's exit paths
/// kill it like a node.
/// </summary>
internal sealed class Syncthing : IDisposable
{
    public const string FolderId = "bench";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly NodeProcess _process;
    private readonly HttpClient _api;
    private readonly List<Task> _scans = [];

    private Syncthing(string name, string deviceId, string listen, string folder, NodeProcess process, HttpClient api)
    {
        Name = name;
        DeviceId = deviceId;
        ListenAddress = listen;
        Folder = folder;
        _process = process;
        _api = api;
    }

    public string Name { get; }

    public string DeviceId { get; }

    /// <summary>Its sync protocol address, <c>tcp://127.0.0.1:PORT</c>.</summary>
    public string ListenAddress { get; }

    /// <summary>The shared folder's path (created by <see cref="ShareFolderAsync"/>).</summary>
    public string Folder { get; }

    public NodeProcess Process => _process;

    /// <summary>"syncthing v1.19.2-ds1 …", or "" when it is not installed.</summary>
    public static async Task<string> VersionAsync() => (await Command.TryRunAsync("syncthing", ["--version"]).ConfigureAwait(false)).Split(" (", 2)[0];

    public static async Task<Syncthing> StartAsync(string home, string name, string folder, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(home);
        await Command.RunAsync("syncthing", ["generate", "--home", home, "--no-default-folder"], cancellationToken).ConfigureAwait(false);
        var deviceId = await Command.RunAsync("syncthing", ["serve", "--home", home, "--device-id"], cancellationToken).ConfigureAwait(false);
        var listen = $"tcp://127.0.0.1:{FreePort()}";
        var gui = $"127.0.0.1:{FreePort()}";
        var apiKey = RandomNumberGenerator.GetHexString(32, lowercase: true);
        WriteConfig(Path.Combine(home, "config.xml"), name, listen, gui, apiKey);

        // STNORESTART (and its flag): never restart itself. STMONITORED: run as the monitor's inner process does, with no
        // monitor process, so the pid started is the one doing the work (CPU and memory are read from it); env execs
        // syncthing, so that pid is syncthing's.
        var process = NodeProcess.StartCommand(
            "env", name, ["STNORESTART=1", "STMONITORED=1", "syncthing", "serve", "--home", home, "--no-browser", "--no-restart", "--no-upgrade"]);
        var api = new HttpClient { BaseAddress = new Uri($"http://{gui}/"), Timeout = TimeSpan.FromMinutes(30) };
        api.DefaultRequestHeaders.Add("X-API-Key", apiKey);
        var syncthing = new Syncthing(name, deviceId, listen, folder, process, api);
        try
        {
            var clock = Stopwatch.StartNew();
            while (!await syncthing.AnswersAsync(cancellationToken).ConfigureAwait(false))
            {
                process.ThrowIfExited("while starting");
                if (clock.Elapsed > StartTimeout) throw new BenchException($"{name} did not answer on {gui} within {StartTimeout.TotalSeconds:0} s{Environment.NewLine}{process.Tail()}");
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }

            return syncthing;
        }
        catch
        {
            syncthing.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Edits the config that <c>syncthing generate</c> wrote, before the first start. Also off: lowering its own CPU and
    /// I/O priority (its default), which on this shared machine would handicap it against the nodes it is compared with.
    /// </summary>
    private static void WriteConfig(string path, string name, string listen, string gui, string apiKey)
    {
        var config = XDocument.Load(path);
        var root = config.Root ?? throw new BenchException($"{path} is empty");
        var options = root.Element("options") ?? throw new BenchException($"{path} has no <options>");
        var settings = new Dictionary<string, string>
        {
            ["listenAddress"] = listen,
            ["globalAnnounceEnabled"] = "false",
            ["localAnnounceEnabled"] = "false",
            ["relaysEnabled"] = "false",
            ["natEnabled"] = "false",
            ["stunKeepaliveStartS"] = "0",
            ["urAccepted"] = "-1",
            ["crashReportingEnabled"] = "false",
            ["autoUpgradeIntervalH"] = "0",
            ["startBrowser"] = "false",
            ["setLowPriority"] = "false",
        };
        foreach (var (element, value) in settings)
        {
            (options.Element(element) ?? throw new BenchException($"{path} has no <{element}>: another Syncthing version?")).Value = value;
        }

        var guiElement = root.Element("gui") ?? throw new BenchException($"{path} has no <gui>");
        guiElement.SetElementValue("address", gui);
        guiElement.SetElementValue("apikey", apiKey);
        root.Element("device")?.SetAttributeValue("name", name);
        config.Save(path);
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private async Task<bool> AnswersAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _api.GetAsync("rest/system/ping", cancellationToken).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    /// <summary>Adds the other instance as a device, at its listen address (there is no discovery).</summary>
    public Task AddDeviceAsync(Syncthing peer, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, "rest/config/devices", new JsonObject
        {
            ["deviceID"] = peer.DeviceId,
            ["name"] = peer.Name,
            ["addresses"] = new JsonArray(peer.ListenAddress),
        }, cancellationToken);

    /// <summary>
    /// The folder <see cref="FolderId"/> at <see cref="Folder"/>, shared with <paramref name="peer"/>. The watcher stays
    /// on with Syncthing's defaults, so changes are noticed on their own as with Shoal's watcher.
    /// </summary>
    public Task ShareFolderAsync(Syncthing peer, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Folder);
        return SendAsync(HttpMethod.Post, "rest/config/folders", new JsonObject
        {
            ["id"] = FolderId,
            ["label"] = FolderId,
            ["path"] = Folder,
            ["type"] = "sendreceive",
            ["fsWatcherEnabled"] = true,
            ["devices"] = new JsonArray(new JsonObject { ["deviceID"] = DeviceId }, new JsonObject { ["deviceID"] = peer.DeviceId }),
        }, cancellationToken);
    }

    /// <summary>Connected to <paramref name="peer"/>, the folder scanned and idle, and no folder offer left unaccepted.</summary>
    public async Task<bool> ReadyForAsync(Syncthing peer, CancellationToken cancellationToken)
    {
        var connections = await SendAsync(HttpMethod.Get, "rest/system/connections", null, cancellationToken).ConfigureAwait(false);
        if (connections["connections"]?[peer.DeviceId]?["connected"]?.GetValue<bool>() != true) return false;
        var status = await SendAsync(HttpMethod.Get, $"rest/db/status?folder={FolderId}", null, cancellationToken).ConfigureAwait(false);
        if ((string?)status["state"] != "idle") return false;
        var pending = await SendAsync(HttpMethod.Get, "rest/cluster/pending/folders", null, cancellationToken).ConfigureAwait(false);
        return pending is JsonObject { Count: 0 };
    }

    /// <summary>
    /// Asks for a scan of <paramref name="path"/> (relative to the folder) at once and does not wait for it. Syncthing's
    /// watcher waits its delay (10 s by default, 1 s at least) before it scans; asking at once leaves that out of every
    /// Syncthing figure, so the comparison errs in Syncthing's favour. <see cref="ScansAsync"/> reports failed requests.
    /// </summary>
    public void RequestScan(string path)
    {
        var request = SendAsync(HttpMethod.Post, $"rest/db/scan?folder={FolderId}&sub={Uri.EscapeDataString(path)}", null, CancellationToken.None);
        lock (_scans) _scans.Add(request);
    }

    public async Task ScansAsync()
    {
        Task[] scans;
        lock (_scans)
        {
            scans = [.. _scans];
            _scans.Clear();
        }

        await Task.WhenAll(scans).ConfigureAwait(false);
    }

    private async Task<JsonNode> SendAsync(HttpMethod method, string path, JsonObject? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : new StringContent(body.ToJsonString()) };
        HttpResponseMessage response;
        try
        {
            response = await _api.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            _process.ThrowIfExited($"(its REST API stopped answering)");
            throw new BenchException($"{Name}: {method} /{path} failed: {e.Message}");
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) throw new BenchException($"{Name}: {method} /{path} answered {(int)response.StatusCode}: {text.Trim()}");
            try
            {
                return text.Length == 0 ? new JsonObject() : JsonNode.Parse(text) ?? new JsonObject();
            }
            catch (JsonException)
            {
                return new JsonObject();
            }
        }
    }

    public void Dispose()
    {
        _process.Dispose();
        _api.Dispose();
    }
}
