using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Core;
using Shoal.Net;
using Shoal.Net.Connections;
using Shoal.Net.Discovery;
using Shoal.Net.Relay;
using Shoal.Net.Tracking;
using Shoal.Node.Api;
using Shoal.Node.Content;
using Shoal.Node.Folder;
using Shoal.Node.Home;
using Shoal.Node.Peers;
using Shoal.Node.Replication;
using Shoal.Node.Tracking;
using Shoal.Node.Transfers;
using Shoal.Node.Web;
using Shoal.Protocol;
using Shoal.Storage;
using Shoal.Swarm;

namespace Shoal.Node;

/// <summary>The daemon: the one place where storage, network, swarm and API are put together.</summary>
public sealed class ShoalNode : IAsyncDisposable
{
    private readonly FileStream _lock;
    private readonly NodeIdentity _identity;
    private readonly Catalog _catalog;
    private readonly ILogger _logger;
    private readonly TokenBucket _uploadLimit;
    private readonly TokenBucket _downloadLimit;

    /// <summary>
    /// Chunks being served at once across all peers (each connection also has its own, smaller bound): with many
    /// downloaders at once the seed's memory stays at this many chunk buffers, and each still gets its turn.
    /// </summary>
    private readonly SemaphoreSlim _sendBuffers = new(SendBuffers);

    private const int SendBuffers = 32;

    /// <summary>With several peers downloading a shared file at once, sends its least-sent chunks first.</summary>
    private readonly ServeOrder _serveOrder;
    private WebApplication? _api;
    private LanDiscovery? _discovery;
    private readonly SocketsHttpHandler _listenPortHandler;
    private RelayServer? _relay;
    private readonly CancellationTokenSource _stopping = new();
    private Task _sampling = Task.CompletedTask;

    private ShoalNode(NodeOptions options, FileStream lockFile, NodeIdentity identity, NetworkMembership membership, NodeConfig config, ILoggerFactory loggerFactory)
    {
        Home = options.Home;
        Config = config;
        Membership = membership;
        _lock = lockFile;
        _identity = identity;
        LoggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("shoal");
        Time = options.Time;
        _serveOrder = new ServeOrder(options.Time);
        _catalog = Catalog.Open(Home.DatabasePath);
        _uploadLimit = new TokenBucket(options.UploadLimit ?? config.UploadLimit, Time);
        _downloadLimit = new TokenBucket(options.DownloadLimit ?? config.DownloadLimit, Time);
        Reputation = new PeerReputation(Time);
        Revocations = new RevocationList(_catalog);
        Rates = new PeerRates(Time);
        Subnets = new SubnetPolicy(options.AllowSubnets.Count > 0 ? options.AllowSubnets : config.AllowSubnets);
        Availability = new Availability();
        Indexing = new IndexingRegistry(Time);
        Library = new Library(_catalog, Time, loggerFactory.CreateLogger("shoal.library"));
        var services = new PeerServices(this);
        Connections = new ConnectionManager(
            identity,
            new LocalHello(identity.DeviceId, membership, config.Name, 0),
            services,
            Refusal,
            Subnets,
            _catalog,
            loggerFactory.CreateLogger("shoal.peers"),
            Time)
        {
            MaxConnections = options.MaxPeers ?? config.MaxPeers,
            KeepAlive = options.KeepAlive,
        };
        Transfers = new TransferManager(
            Home, identity.DeviceId, _catalog, Library, Availability,
            Connections.Get, Connections.Broadcast, OnBadData, _downloadLimit, new SwarmOptions(),
            loggerFactory.CreateLogger("shoal.transfers"), Time);
        Folder = new SyncedFolder(
            options.Folder ?? config.Folder ?? Home.DefaultFolder,
            Home.TrashDirectory,
            _catalog,
            new FolderEnvironment(identity.DeviceId, NameOf, Connections.Get, _downloadLimit, OnBadData),
            options.FolderOptions with { TrashRetention = TimeSpan.FromDays(config.TrashDays) },
            loggerFactory.CreateLogger("shoal.folder"),
            Time);
        Put = new PutService(
            new ChunkStore(Home.StoreDirectory, options.StoreQuota ?? config.StoreQuota),
            _catalog,
            Library,
            Availability,
            new PutEnvironment(identity.DeviceId, Connections.Get, () => [.. Connections.Connections.Where(c => c.IsOpen)], Connections.Broadcast),
            options.PutOptions with { DownAfter = options.DownAfter ?? TimeSpan.FromSeconds(config.DownAfterSeconds) },
            loggerFactory.CreateLogger("shoal.put"),
            Time);
        _listenPortHandler = NatTraversal.ListenPortHandler(() => ListenEndPoint);
        Trackers = new Trackers(
            TrackerUrls(config.Trackers.Concat(options.Trackers)),
            identity,
            membership,
            new TrackerEnvironment(() => (Name, ListenEndPoint.Port, AdvertisedAddresses(ListenEndPoint)), Library.Inventory, DialTracked)
            {
                ListenPortHandler = _listenPortHandler,
                OnSignal = signal => Traversal?.OnSignal(signal),
            },
            Time,
            loggerFactory);
        Traversal = new NatTraversal(
            identity.DeviceId, Connections, Trackers, () => Config.Relays, device => Refusal(device) is not null, TraversalOptions.Default,
            loggerFactory.CreateLogger("shoal.nat"), Time);
        Library.Offered += entry =>
        {
            Connections.Broadcast(new Inventory(Reset: false, [entry]));
            Trackers.Wake();
        };
        Library.Withdrawn += id =>
        {
            Connections.Broadcast(new Removed(id));
            Trackers.Wake();
        };
        Transfers.SourcesWanted += FindSources;
        Connections.Connected += SendInventory;
        Connections.Connected += Folder.OnConnected;
        Connections.Connected += Put.OnConnected;
    }

    public NodeHome Home { get; }

    /// <summary>The settings in config.json; <see cref="UpdateConfig"/> changes them while the node runs.</summary>
    public NodeConfig Config { get; private set; }

    public NetworkMembership Membership { get; }

    public DeviceId DeviceId => _identity.DeviceId;

    public string Name => Config.Name;

    public TimeProvider Time { get; }

    public ILoggerFactory LoggerFactory { get; }

    public Library Library { get; }

    public Availability Availability { get; }

    public ConnectionManager Connections { get; }

    public TransferManager Transfers { get; }

    public SyncedFolder Folder { get; }

    public PutService Put { get; }

    /// <summary>Files being hashed for a share or a put, for progress bars.</summary>
    public IndexingRegistry Indexing { get; }

    public PeerReputation Reputation { get; }

    public Trackers Trackers { get; }

    /// <summary>Hole punching and relays, for members behind NATs.</summary>
    public NatTraversal Traversal { get; }

    /// <summary>Where this node relays for members of its network (config <c>relayListen</c>), if it does.</summary>
    public IPEndPoint? RelayEndPoint => _relay?.EndPoint;

    public RevocationList Revocations { get; }

    public PeerRates Rates { get; }

    public SubnetPolicy Subnets { get; }

    public TokenBucket UploadLimit => _uploadLimit;

    public TokenBucket DownloadLimit => _downloadLimit;

    public IPEndPoint ListenEndPoint { get; private set; } = new(IPAddress.None, 0);

    public Uri ApiUrl { get; private set; } = new("http://127.0.0.1/");

    /// <summary>Cancelled when the node starts shutting down: long requests (live events, streams) end at once.</summary>
    public CancellationToken Stopping => _stopping.Token;

    public IPEndPoint ApiEndPoint { get; private set; } = new(IPAddress.Loopback, 0);

    /// <summary>Where the node keeps files it downloads for the web UI and for gets that name no directory.</summary>
    public string DownloadDirectory => Config.Downloads ?? Home.DefaultDownloads;

    public string ApiToken { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));

    internal Catalog Catalog => _catalog;

    public long UploadedBytes => Interlocked.Read(ref _uploadedClosed) + Connections.Connections.Sum(c => c.ChunkBytesSent);

    public long DownloadedBytes => Interlocked.Read(ref _downloadedClosed) + Connections.Connections.Sum(c => c.ChunkBytesReceived);

    private long _uploadedClosed;
    private long _downloadedClosed;

    /// <summary>Initialises the home if needed, takes its lock, binds the ports, starts serving and dialling.</summary>
    public static async Task<ShoalNode> StartAsync(NodeOptions options, CancellationToken cancellationToken = default)
    {
        var home = options.Home;
        if (!home.IsInitialised) NodeSetup.Init(home, name: null, options.Folder, joinCode: null);
        home.EnsureCreated();
        var lockFile = AcquireLock(home);
        ShoalNode? node = null;
        try
        {
            var config = NodeConfig.Load(home);
            var identity = NodeIdentity.LoadOrCreate(home.Root);
            var membership = NetworkMembership.Load(home.MembershipPath);
            var loggerFactory = options.LoggerFactory ?? NullLoggerFactory.Instance;
            node = new ShoalNode(options, lockFile, identity, membership, config, loggerFactory);
            await node.StartServicesAsync(options, cancellationToken).ConfigureAwait(false);
            return node;
        }
        catch
        {
            if (node is not null) await node.DisposeAsync().ConfigureAwait(false);
            else lockFile.Dispose();
            throw;
        }
    }

    private static FileStream AcquireLock(NodeHome home)
    {
        try
        {
            return new FileStream(home.LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            throw new InvalidOperationException($"a node is already running for {home.Root}");
        }
    }

    private async Task StartServicesAsync(NodeOptions options, CancellationToken cancellationToken)
    {
        Put.Start();
        var listen = Endpoints.ParseListen(options.Listen ?? Config.Listen, NodeConfig.DefaultPeerPort);
        ListenEndPoint = Connections.Listen(listen);
        Connections.UpdateListenPort((ushort)ListenEndPoint.Port);
        var api = Endpoints.ParseListen(options.Api ?? Config.Api, NodeConfig.DefaultApiPort);
        if (!IPAddress.IsLoopback(api.Address) && Config.ApiPasswordHash is null)
        {
            throw new InvalidOperationException(
                $"the web UI and API on {Endpoints.Format(api)} would be reachable from other computers: set a password first " +
                "('shoal password'), or keep --api on 127.0.0.1");
        }

        await StartApiAsync(api, cancellationToken).ConfigureAwait(false);
        await Folder.StartAsync(cancellationToken).ConfigureAwait(false);
        WriteRuntimeInfo();
        Transfers.ResumeInterrupted();
        foreach (var peer in Config.Peers.Concat(options.Peers).Distinct(StringComparer.OrdinalIgnoreCase))
        {
            Connections.AddStaticPeer(peer);
        }

        if (options.Discovery ?? Config.Discovery) StartDiscovery(options.DiscoveryPort ?? Config.DiscoveryPort);
        Trackers.Start();
        Traversal.Start();
        if (Config.RelayListen is { Length: > 0 } relayListen)
        {
            _relay = RelayServer.Start(Endpoints.ParseListen(relayListen, NatTraversal.DefaultRelayPort), new RelayLimits(), LoggerFactory.CreateLogger("shoal.relay"), Time);
            _logger.LogInformation("Relaying for members on {Relay}", _relay.EndPoint);
        }

        _sampling = Task.Run(SampleRatesAsync);

        _logger.LogInformation("Node {Name} ({Device}) listening on {Listen}; API on {Api}", Name, DeviceId, ListenEndPoint, ApiUrl);
    }

    private async Task StartApiAsync(IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(LoggerFactory);
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(endPoint));
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJson.Default));
        builder.Services.AddOpenApi(NodeApi.ConfigureOpenApi);
        var app = builder.Build();
        var access = new ApiAccess(ApiToken, () => Config.ApiPasswordHash, Time);
        NodeApi.Map(app, this, access);
        WebUi.Map(app, this, access);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _api = app;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        ApiUrl = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal));
        ApiEndPoint = new IPEndPoint(endPoint.Address, ApiUrl.Port);
    }

    private void WriteRuntimeInfo()
    {
        var info = new RuntimeInfo(ApiUrl.ToString().TrimEnd('/'), ApiToken, Environment.ProcessId);
        AtomicFile.WriteAllText(Home.RuntimePath, JsonSerializer.Serialize(info, ApiJson.Default.RuntimeInfo));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Home.RuntimePath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>
    /// Announces this node on the LAN and dials members it hears. Announcements only suggest where to dial: who a
    /// peer is, and whether it may stay, is settled by TLS and the membership proof like any other connection.
    /// </summary>
    private void StartDiscovery(int port)
    {
        var logger = LoggerFactory.CreateLogger("shoal.discovery");
        var listen = ListenEndPoint.Address.Equals(IPAddress.IPv6Any) || ListenEndPoint.Address.Equals(IPAddress.Any)
            ? $"[::]:{ListenEndPoint.Port}"
            : Endpoints.Format(ListenEndPoint);
        Announcement Self() => DiscoveryPacket.Fit(new Announcement(DeviceId, Name, [listen]));
        _discovery = new LanDiscovery(
            new UdpDatagramTransport(port, logger),
            DiscoveryPacket.DeriveKey(Membership),
            DeviceId,
            Self,
            new DiscoveryOptions { Port = port },
            Time,
            logger,
            Subnets.IsAllowed);
        _discovery.Discovered += peer =>
        {
            if (Refusal(peer.Device) is not null) return;
            foreach (var address in peer.Addresses) Connections.AddStaticPeer(FormatEndPoint(address));
        };
        _discovery.Start();
    }

    private static List<Uri> TrackerUrls(IEnumerable<string> texts)
    {
        var urls = new List<Uri>();
        foreach (var text in texts)
        {
            if (!TrackerClient.TryParseUrl(text, out var url, out var error)) throw new ArgumentException(error);
            urls.Add(url);
        }

        return urls;
    }

    /// <summary>Members a tracker knows of are dialled like discovered ones; the handshake decides who they are.</summary>
    private void DialTracked(IEnumerable<TrackedPeer> peers)
    {
        foreach (var peer in peers)
        {
            if (!TrackerDeviceId.TryParse(peer.Device, out var device)) continue;
            if (device == DeviceId || Connections.Get(device) is { IsOpen: true } || Refusal(device) is not null) continue;
            Traversal.OnTrackedPeers([peer]);
            foreach (var address in peer.Addresses) Connections.AddStaticPeer(address);
        }
    }

    /// <summary>A download found no source among the connected peers: ask the trackers who holds the file and dial them.</summary>
    private void FindSources(FileId file)
    {
        if (Trackers.IsEmpty) return;
        _ = Task.Run(async () =>
        {
            var holders = await Trackers.HoldersAsync(file, _stopping.Token).ConfigureAwait(false);
            DialTracked(holders.Select(h => new TrackedPeer(h.Device, h.Name, h.Addresses, 0)));
        });
    }

    private async Task SampleRatesAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), Time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false)) Rates.Sample(Connections.Connections);
        }
        catch (OperationCanceledException)
        {
            // Shutting down.
        }
    }

    private static string FormatEndPoint(EndPoint endPoint) => endPoint switch
    {
        IPEndPoint ip => Endpoints.Format(ip),
        DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
        _ => endPoint.ToString() ?? "",
    };

    /// <summary>Addresses worth putting in an invite: the bound address, or every interface's when bound to all.</summary>
    public static IReadOnlyList<string> AdvertisedAddresses(IPEndPoint listen)
    {
        var port = listen.Port;
        if (!listen.Address.Equals(IPAddress.IPv6Any) && !listen.Address.Equals(IPAddress.Any))
        {
            return [Endpoints.Format(listen)];
        }

        return [.. LocalAddresses.Enumerate().Select(a => Endpoints.Format(new IPEndPoint(a, port)))];
    }

    /// <summary>
    /// Saves changed settings and applies what can be applied while running (name, limits, download directory,
    /// added peers). Returns the settings that take effect only at the next start (see <see cref="ConfigKeys"/>).
    /// </summary>
    public IReadOnlyList<string> UpdateConfig(NodeConfig changed)
    {
        ArgumentNullException.ThrowIfNull(changed);
        var before = Config;
        SaveKeepingPassword(changed);
        Config = changed;
        _uploadLimit.BytesPerSecond = changed.UploadLimit;
        _downloadLimit.BytesPerSecond = changed.DownloadLimit;
        if (changed.Name != before.Name) Connections.UpdateName(changed.Name);
        foreach (var peer in changed.Peers.Except(before.Peers, StringComparer.OrdinalIgnoreCase)) Connections.AddStaticPeer(peer);
        return ConfigKeys.RestartRequired(before, changed, Home);
    }

    /// <summary>
    /// <c>shoal password</c> writes config.json while the node runs, for its next start: the password saved is the
    /// file's, not the one this node started with.
    /// </summary>
    private void SaveKeepingPassword(NodeConfig changed)
    {
        try
        {
            changed = changed with { ApiPasswordHash = NodeConfig.Load(Home).ApiPasswordHash };
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            // An unreadable file is replaced with what this node has.
        }

        changed.Save(Home);
    }

    /// <summary>
    /// Indexes and shares files (a directory: every file in it), recording progress in <see cref="Indexing"/>. A file that
    /// cannot be read is skipped and returned with why, and the others are shared all the same.
    /// </summary>
    public async Task<(IReadOnlyList<LocalFile> Shared, IReadOnlyList<(string Path, string Error)> Skipped)> ShareAsync(IEnumerable<string> paths, CancellationToken cancellationToken)
    {
        var requested = paths.Select(Path.GetFullPath).ToList();
        var files = Library.ExpandPaths(requested).ToList();
        using var job = Indexing.Start("share", requested, files);
        var shared = new List<LocalFile>();
        var skipped = new List<(string Path, string Error)>();
        foreach (var file in files)
        {
            try
            {
                shared.Add(await Library.IndexAndAddAsync(file, LocalFileKind.Shared, job.Next(file), cancellationToken).ConfigureAwait(false));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException && !DiskSpace.IsFull(e))
            {
                _logger.LogWarning("Skipped {Path}: {Error}", file, e.Message);
                skipped.Add((file, e.Message));
            }
        }

        return (shared, skipped);
    }

    private string NameOf(DeviceId device) =>
        device == DeviceId ? Name : Connections.Get(device)?.RemoteName ?? _catalog.GetPeer(device)?.Name ?? device.ShortForm;

    private (CloseReason Reason, string Text)? Refusal(DeviceId device) =>
        Revocations.IsRevoked(device) ? (CloseReason.Revoked, "this device was removed from the network")
        : Reputation.IsBanned(device) ? (CloseReason.Banned, "this node has banned you for sending corrupt data")
        : null;

    /// <summary>
    /// Removes devices from the network: they are refused from now on, cut off at once, and every member hears of
    /// it (each passes on what is new to it, so the news crosses the whole network).
    /// </summary>
    public IReadOnlyList<DeviceId> Revoke(IEnumerable<DeviceId> devices, PeerConnection? from = null)
    {
        var added = Revocations.Add(devices.Where(d => d != DeviceId), Time.GetUtcNow());
        if (added.Count == 0) return added;
        _logger.LogWarning("Removed from the network{Source}: {Devices}", from is null ? "" : $" (told by {from.RemoteName})", string.Join(", ", added.Select(d => d.ShortForm)));
        foreach (var device in added) Connections.Disconnect(device, CloseReason.Revoked, "this device was removed from the network");
        foreach (var connection in Connections.Connections.Where(c => c != from)) SendRevocations(connection, added);
        return added;
    }

    private static void SendRevocations(PeerConnection connection, IReadOnlyList<DeviceId> devices)
    {
        foreach (var batch in devices.Chunk(Revoked.MaxDevices)) connection.Send(new Revoked(batch));
    }

    private void SendInventory(PeerConnection connection)
    {
        SendRevocations(connection, Revocations.All);

        var entries = Library.Inventory();
        if (entries.Count == 0)
        {
            connection.Send(new Inventory(Reset: true, []));
            return;
        }

        // Inventories are split so that no frame comes near the size limit, whatever the bitfields weigh.
        var first = true;
        var batch = new List<InventoryEntry>();
        var batchBytes = 0;
        foreach (var entry in entries)
        {
            var entryBytes = 64 + entry.Name.Length * 3 + (entry.Chunks is null ? 0 : Bitfield.ByteLength(entry.ChunkCount));
            if (batch.Count > 0 && (batch.Count == Inventory.MaxEntries || batchBytes + entryBytes > 1 << 20))
            {
                connection.Send(new Inventory(first, batch));
                first = false;
                batch = [];
                batchBytes = 0;
            }

            batch.Add(entry);
            batchBytes += entryBytes;
        }

        connection.Send(new Inventory(first, batch));
    }

    /// <summary>
    /// Peers' file lists are kept only so that <c>ls</c> can show files of offline peers: on a full disk they are left
    /// as they were rather than cutting the link that brought them.
    /// </summary>
    private void RememberPeerFiles(Action update)
    {
        try
        {
            update();
        }
        catch (DiskFullException e)
        {
            _logger.LogWarning("Peers' file lists are not saved: {Error}", e.Message);
        }
    }

    private void OnBadData(DeviceId peer, FileId file, int chunk)
    {
        _logger.LogWarning("{Peer} sent chunk {Chunk} of {File} with the wrong hash: discarded", peer.ShortForm, chunk, file.ShortForm);
        if (Reputation.Strike(peer))
        {
            _logger.LogWarning("{Peer} sent corrupt data {Strikes} times: disconnected and banned for {Duration}", peer.ShortForm, PeerReputation.StrikesBeforeBan, PeerReputation.BanDuration);
            Connections.Disconnect(peer, CloseReason.Banned, "banned for sending corrupt data");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (File.Exists(Home.RuntimePath)) File.Delete(Home.RuntimePath);
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _sampling.ConfigureAwait(false);
        if (_discovery is not null) await _discovery.DisposeAsync().ConfigureAwait(false);
        await Traversal.DisposeAsync().ConfigureAwait(false);
        await Trackers.DisposeAsync().ConfigureAwait(false);
        _listenPortHandler.Dispose();
        if (_relay is not null) await _relay.DisposeAsync().ConfigureAwait(false);
        if (_api is not null)
        {
            await _api.StopAsync().ConfigureAwait(false);
            await _api.DisposeAsync().ConfigureAwait(false);
        }

        await Folder.DisposeAsync().ConfigureAwait(false);
        await Put.DisposeAsync().ConfigureAwait(false);
        await Transfers.DisposeAsync().ConfigureAwait(false);
        await Connections.DisposeAsync().ConfigureAwait(false);
        Library.Dispose();
        _catalog.Dispose();
        _identity.Dispose();
        await _lock.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    /// <summary>Routes what peers say and ask to the parts of the node that deal with it.</summary>
    private sealed class PeerServices(ShoalNode node) : IPeerServices
    {
        public ValueTask<Manifest?> FindManifestAsync(FileId file, CancellationToken cancellationToken) =>
            ValueTask.FromResult(node.Library.FindManifest(file) ?? node.Folder.FindManifest(file));

        public ValueTask ReadChunkAsync(FileId file, int chunkIndex, Memory<byte> destination, CancellationToken cancellationToken) =>
            node.Library.FindManifest(file) is null && node.Folder.FindManifest(file) is not null
                ? node.Folder.ReadChunkAsync(file, chunkIndex, destination, cancellationToken)
                : node.Library.ReadChunkAsync(file, chunkIndex, destination, cancellationToken);

        public void OnIndexRequest(PeerConnection connection, IndexRequest request) => node.Folder.OnIndexRequest(connection, request);

        public ValueTask OnIndexUpdateAsync(PeerConnection connection, IndexUpdate update, CancellationToken cancellationToken) =>
            node.Folder.OnIndexUpdateAsync(connection, update, cancellationToken);

        // Only the library's files (shared and downloaded) are ordered: folder content is pulled by its own code.
        public IDisposable? AdmitChunkServe(PeerConnection connection, FileId file, int chunkIndex) =>
            node.Library.FindManifest(file) is null
                ? AdmitAll.Lease
                : node._serveOrder.TryAdmit(file, chunkIndex, connection.RemoteId, node.Availability.Get(connection.RemoteId, file)?.HeldCount ?? 0);

        public ValueTask AcquireUploadAsync(int bytes, CancellationToken cancellationToken) =>
            node._uploadLimit.WaitAsync(bytes, cancellationToken);

        public async ValueTask AcquireSendBufferAsync(CancellationToken cancellationToken) =>
            await node._sendBuffers.WaitAsync(cancellationToken).ConfigureAwait(false);

        public void ReleaseSendBuffer() => node._sendBuffers.Release();

        public void OnInventory(PeerConnection connection, Inventory inventory)
        {
            node.Availability.Apply(connection.RemoteId, inventory);
            node.RememberPeerFiles(() => node._catalog.SetPeerFiles([.. inventory.Entries.Select(e => new PeerFileRecord(connection.RemoteId, e.Id, e.Name, e.Size, e.ChunkCount, e.Chunks))]));
            foreach (var entry in inventory.Entries)
            {
                if (node.Availability.Get(connection.RemoteId, entry.Id) is { } remote) node.Transfers.OnAvailable(connection.RemoteId, remote);
            }
        }

        public void OnHave(PeerConnection connection, Have have)
        {
            var remote = node.Availability.ApplyHave(connection.RemoteId, have);
            if (remote is not null) node.Transfers.OnHave(connection.RemoteId, have.File, have.ChunkIndex);
        }

        public void OnRemoved(PeerConnection connection, Removed removed)
        {
            node.Availability.ApplyRemoved(connection.RemoteId, removed.File);
            node.RememberPeerFiles(() => node._catalog.RemovePeerFile(connection.RemoteId, removed.File));
            node.Transfers.OnWithdrawn(connection.RemoteId, removed.File);
        }

        public ValueTask<StoreOutcome> StoreChunkAsync(PeerConnection connection, StoreChunk request, CancellationToken cancellationToken) =>
            node.Put.StoreChunkAsync(connection, request, cancellationToken);

        public void OnPutRecords(PeerConnection connection, PutRecords records) => node.Put.OnPutRecords(connection, records);

        public void OnStoreStatus(PeerConnection connection, StoreStatus status) => node.Put.OnStoreStatus(connection, status);

        public void OnStoredChunks(PeerConnection connection, StoredChunks stored) => node.Put.OnStoredChunks(connection, stored);

        public void OnRevoked(PeerConnection connection, Revoked revoked)
        {
            if (revoked.Devices.Contains(node.DeviceId))
            {
                node._logger.LogWarning("{Peer} says this device was removed from the network", connection.RemoteName);
            }

            node.Revoke(revoked.Devices, connection);
        }

        public void OnClosed(PeerConnection connection, string reason)
        {
            Interlocked.Add(ref node._uploadedClosed, connection.ChunkBytesSent);
            Interlocked.Add(ref node._downloadedClosed, connection.ChunkBytesReceived);
            // A link lost to the network (a reset, a record that fails TLS's check) closes no other way that is logged.
            node._logger.LogInformation("Link to {Peer} ({Device}) ended: {Reason}", connection.RemoteName, connection.RemoteId.ShortForm, reason);
            node.Connections.Forget(connection);
            node.Folder.OnDisconnected(connection);
            if (node.Connections.Get(connection.RemoteId) is null)
            {
                node.Availability.Drop(connection.RemoteId);
                node.Put.OnDisconnected(connection.RemoteId);
                node.Transfers.OnPeerGone(connection.RemoteId);
            }
        }
    }
}

internal static class LocalAddresses
{
    public static IEnumerable<IPAddress> Enumerate() =>
        System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(u => u.Address)
            .Where(a => !IPAddress.IsLoopback(a) && !a.IsIPv6LinkLocal)
            .DefaultIfEmpty(IPAddress.Loopback);
}
