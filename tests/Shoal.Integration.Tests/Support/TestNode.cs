using System.Net.Http.Headers;
using System.Net.Http.Json;
using Shoal.Core;
using Shoal.Node;
using Shoal.Node.Api;
using Shoal.Node.Home;

namespace Shoal.Integration.Tests.Support;

/// <summary>A real node in this process: real TLS on 127.0.0.1, real SQLite and files in a temp home, real API.</summary>
public sealed class TestNode : IAsyncDisposable
{
    private TestNode(ShoalNode node, TempDirectory directory)
    {
        Node = node;
        Directory = directory;
        Api = new HttpClient { BaseAddress = node.ApiUrl };
        Api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", node.ApiToken);
    }

    public ShoalNode Node { get; }

    public TempDirectory Directory { get; }

    public HttpClient Api { get; }

    public string Address => $"127.0.0.1:{Node.ListenEndPoint.Port}";

    public string Downloads => Directory.Combine("downloads");

    /// <summary>Starts the first node of a new network.</summary>
    public static Task<TestNode> StartFoundingAsync(string name, long uploadLimit = 0, IReadOnlyList<string>? allowSubnets = null) =>
        StartAsync(name, joinCode: null, peers: [], uploadLimit, allowSubnets: allowSubnets);

    /// <summary>Starts a node that joins <paramref name="inviter"/>'s network through an invite, and dials it.</summary>
    public static Task<TestNode> StartJoiningAsync(string name, TestNode inviter, long downloadLimit = 0) =>
        StartAsync(name, NodeSetup.CreateInvite(inviter.Node.Home, [inviter.Address]), [inviter.Address], downloadLimit: downloadLimit);

    /// <param name="parent">Where the node's directory (home, downloads) goes; default the temp directory.</param>
    public static async Task<TestNode> StartAsync(
        string name, string? joinCode, IReadOnlyList<string> peers, long uploadLimit = 0, long downloadLimit = 0, IReadOnlyList<string>? allowSubnets = null,
        Func<NodeOptions, NodeOptions>? configure = null, string? parent = null)
    {
        var directory = new TempDirectory("shoal-node", parent);
        var home = new NodeHome(directory.Combine("home"));
        NodeSetup.Init(home, name, folder: null, joinCode);
        var options = new NodeOptions(home)
        {
            Listen = "127.0.0.1:0",
            Api = "127.0.0.1:0",
            Peers = peers,
            Discovery = false,
            UploadLimit = uploadLimit,
            DownloadLimit = downloadLimit,
            AllowSubnets = allowSubnets ?? [],
        };
        if (configure is not null) options = configure(options);
        return new TestNode(await ShoalNode.StartAsync(options), directory) { _options = options };
    }

    private NodeOptions _options = null!;

    /// <summary>The node's synced folder on disk.</summary>
    public string Folder => Node.Folder.Root;

    /// <summary>Path of a file inside the synced folder.</summary>
    public string InFolder(string relative) => Path.Combine(Folder, relative);

    /// <summary>Stops the node, keeping its home and folder, so it can be started again with <see cref="StartAgainAsync"/>.</summary>
    public async Task StopAsync()
    {
        Api.Dispose();
        await Node.DisposeAsync();
        _stopped = true;
    }

    private bool _stopped;
    private bool _handedOver;

    /// <summary>Starts a stopped node again on the same home and folder; the new object owns them from then on.</summary>
    public async Task<TestNode> StartAgainAsync(Func<NodeOptions, NodeOptions>? change = null)
    {
        var options = change is null ? _options : change(_options);
        var started = new TestNode(await ShoalNode.StartAsync(options), Directory) { _options = options };
        _handedOver = true;
        return started;
    }

    public async Task<SharedFileDto> ShareAsync(string path)
    {
        var response = await Api.PostAsJsonAsync("api/share", new ShareRequest([path]), ApiJson.Default.ShareRequest);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync(ApiJson.Default.IReadOnlyListSharedFileDto))!.Single();
    }

    public async Task<PutFileDto> PutAsync(string path, int replicas)
    {
        var response = await Api.PostAsJsonAsync("api/put", new PutRequest([path], replicas), ApiJson.Default.PutRequest);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync(ApiJson.Default.IReadOnlyListPutFileDto))!.Single();
    }

    /// <param name="directory">Where the file goes; default <see cref="Downloads"/>.</param>
    public async Task<TransferDto> StartDownloadAsync(string link, string? directory = null)
    {
        var response = await Api.PostAsJsonAsync("api/downloads", new GetRequest(link, directory ?? Downloads), ApiJson.Default.GetRequest);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync(ApiJson.Default.TransferDto))!;
    }

    public async Task<TransferDto> TransferAsync(string id) =>
        (await Api.GetFromJsonAsync($"api/downloads/{id}", ApiJson.Default.TransferDto))!;

    /// <summary>Downloads through the API and waits until the node reports the file complete and verified.</summary>
    public async Task<TransferDto> DownloadAsync(string link, TimeSpan? timeout = null, string? directory = null)
    {
        var started = await StartDownloadAsync(link, directory);
        return await Eventually.ValueAsync(
            async () =>
            {
                var transfer = await TransferAsync(started.Id);
                if (transfer.State is "failed" or "cancelled") throw new InvalidOperationException($"download {transfer.State}: {transfer.Error}");
                return transfer.State == "completed" ? transfer : null;
            },
            $"{Node.Name} to download {link}",
            timeout);
    }

    public async Task<IReadOnlyList<FileDto>> FilesAsync() =>
        (await Api.GetFromJsonAsync("api/files", ApiJson.Default.IReadOnlyListFileDto))!;

    public async Task<IReadOnlyList<TraceEntryDto>> TraceAsync(string id) =>
        (await Api.GetFromJsonAsync($"api/downloads/{id}/trace", ApiJson.Default.IReadOnlyListTraceEntryDto))!;

    public Task WaitForPeerAsync(TestNode other) =>
        Eventually.TrueAsync(() => Node.Connections.Get(other.Node.DeviceId) is { IsOpen: true }, $"{Node.Name} to connect to {other.Node.Name}");

    /// <summary>Waits until this node has heard from <paramref name="holders"/> peers that they hold the file.</summary>
    public Task WaitForHoldersAsync(FileId file, int holders) =>
        Eventually.TrueAsync(() => Node.Availability.HoldersOf(file).Count >= holders, $"{Node.Name} to learn of {holders} holders of {file.ShortForm}");

    public async ValueTask DisposeAsync()
    {
        if (!_stopped)
        {
            Api.Dispose();
            await Node.DisposeAsync();
        }

        if (!_handedOver) Directory.Dispose();
    }
}
