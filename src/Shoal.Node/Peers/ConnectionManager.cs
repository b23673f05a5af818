using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;
using Shoal.Core;
using Shoal.Net;
using Shoal.Net.Connections;
using Shoal.Node.Home;
using Shoal.Protocol;
using Shoal.Storage;

namespace Shoal.Node.Peers;

/// <summary>
/// Owns the node's peer links: accepts, dials static peers with exponential backoff and jitter, authenticates,
/// refuses banned devices, and keeps exactly one connection per device when two nodes dial each other at once.
/// </summary>
public sealed class ConnectionManager : IAsyncDisposable
{
    private const int SolSocket = 1;
    private const int SoReuseAddr = 2;
    private static readonly TimeSpan TlsTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MinBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(60);

    private readonly NodeIdentity _identity;
    private LocalHello _hello;
    private readonly IPeerServices _services;
    private readonly Func<DeviceId, (CloseReason Reason, string Text)?> _refusal;
    private readonly SubnetPolicy _subnets;
    private readonly Catalog _catalog;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<DeviceId, PeerConnection> _connections = new();
    private readonly ConcurrentDictionary<string, Task> _dialers = new(StringComparer.OrdinalIgnoreCase);
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Socket> _listeners = [];
    private readonly List<Task> _acceptLoops = [];

    /// <param name="refusal">Why a device is refused (banned, revoked), or null to admit it.</param>
    public ConnectionManager(
        NodeIdentity identity, LocalHello hello, IPeerServices services, Func<DeviceId, (CloseReason Reason, string Text)?> refusal,
        SubnetPolicy subnets, Catalog catalog, ILogger logger, TimeProvider time)
    {
        _identity = identity;
        _hello = hello;
        _services = services;
        _refusal = refusal;
        _subnets = subnets;
        _catalog = catalog;
        _logger = logger;
        _time = time;
    }

    public event Action<PeerConnection>? Connected;

    public IReadOnlyCollection<PeerConnection> Connections => [.. _connections.Values];

    public IReadOnlyList<IPEndPoint> ListenEndPoints { get; private set; } = [];

    /// <summary>Peers learn our listen port from the hello so they can dial us back later.</summary>
    public void UpdateListenPort(ushort port) => _hello = _hello with { ListenPort = port };

    /// <summary>Connections made from now on introduce this node by the new name.</summary>
    public void UpdateName(string name) => _hello = _hello with { Name = name };

    public PeerConnection? Get(DeviceId device) => _connections.TryGetValue(device, out var c) ? c : null;

    /// <summary>Binds the peer port. [::] is dual-stack, so one socket takes IPv4 and IPv6.</summary>
    public IPEndPoint Listen(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (endPoint.AddressFamily == AddressFamily.InterNetworkV6 && endPoint.Address.Equals(IPAddress.IPv6Any))
        {
            socket.DualMode = true;
        }

        // Plain SO_REUSEADDR lets a restarted node rebind past TIME_WAIT. .NET's ReuseAddress would also set
        // SO_REUSEPORT on Linux, letting a second node silently share the port and steal half the connections.
        if (OperatingSystem.IsLinux()) socket.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
        try
        {
            socket.Bind(endPoint);
            socket.Listen(128);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new IOException($"cannot listen on {Endpoints.Format(endPoint)}: {e.Message} (is another node using this port? choose one with --listen)", e);
        }

        _listeners.Add(socket);
        var bound = (IPEndPoint)socket.LocalEndPoint!;
        ListenEndPoints = [.. ListenEndPoints, bound];
        _acceptLoops.Add(Task.Run(() => AcceptLoopAsync(socket)));
        return bound;
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stopping.IsCancellationRequested) return;
                continue;
            }

            if (socket.RemoteEndPoint is IPEndPoint remote && !_subnets.IsAllowed(remote.Address))
            {
                _logger.LogDebug("Refused a connection from {EndPoint}: outside the allowed subnets", remote);
                socket.Dispose();
                continue;
            }

            _ = Task.Run(() => HandleAsync(socket, isClient: false, dialledAs: null));
        }
    }

    /// <summary>Keeps a link to this address: dials now, and again with backoff whenever it is down.</summary>
    public void AddStaticPeer(string address)
    {
        _dialers.GetOrAdd(address, a => Task.Run(() => DialLoopAsync(a)));
    }

    private async Task DialLoopAsync(string address)
    {
        var backoff = MinBackoff;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                var link = await DialAsync(address, _stopping.Token).ConfigureAwait(false);
                backoff = MinBackoff;
                await link.Closed.WaitAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (HandshakeException e) when (e.Reason == CloseReason.Revoked)
            {
                // A revoked device at that address (or one that revoked us) will not be let in: stop trying.
                _logger.LogInformation("Stopped dialling {Address}: {Error}", address, e.Message);
                _dialers.TryRemove(address, out _);
                return;
            }
            catch (Exception e) when (e is SocketException or IOException or HandshakeException or AuthenticationException or OperationCanceledException)
            {
                _logger.LogDebug("Dialling {Address} failed: {Error}", address, e.Message);
            }

            var jitter = 0.75 + (Random.Shared.NextDouble() * 0.5);
            try
            {
                await Task.Delay(backoff * jitter, _time, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, backoff.Ticks * 2));
        }
    }

    /// <summary>
    /// One attempt. Returns the link now registered for the device at that address: the new one, or the one the
    /// peer dialled at the same moment if that one won. Throws on failure or refusal.
    /// </summary>
    public async Task<PeerConnection> DialAsync(string address, CancellationToken cancellationToken)
    {
        if (!Endpoints.TryParse(address, NodeConfig.DefaultPeerPort, out var host, out var port, out var error))
        {
            throw new ArgumentException(error);
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(host, port, linked.Token).ConfigureAwait(false);
            if (socket.RemoteEndPoint is IPEndPoint remote && !_subnets.IsAllowed(remote.Address))
            {
                throw new IOException($"{address} is outside the allowed subnets ({string.Join(", ", _subnets.Subnets)})");
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return await HandleAsync(socket, isClient: true, dialledAs: address).ConfigureAwait(false)
            ?? throw new HandshakeException(CloseReason.Duplicate, $"the connection to {address} was dropped");
    }

    private async Task<PeerConnection?> HandleAsync(Socket socket, bool isClient, string? dialledAs)
    {
        socket.NoDelay = true;
        var remoteEndPoint = socket.RemoteEndPoint;
        var stream = new NetworkStream(socket, ownsSocket: true);
        PeerConnection connection;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(TlsTimeout);
            var tls = isClient
                ? await TlsChannel.AuthenticateAsClientAsync(stream, _identity, timeout.Token).ConfigureAwait(false)
                : await TlsChannel.AuthenticateAsServerAsync(stream, _identity, timeout.Token).ConfigureAwait(false);
            var remote = TlsChannel.RemoteDeviceId(tls);

            // Refused before any hello: a banned or revoked device learns why, and nothing else.
            if (_refusal(remote) is { } refusal)
            {
                await tls.WriteAsync(FrameCodec.Encode(new Close(refusal.Reason, refusal.Text)), timeout.Token).ConfigureAwait(false);
                await tls.FlushAsync(timeout.Token).ConfigureAwait(false);
                await tls.DisposeAsync().ConfigureAwait(false);
                throw new HandshakeException(refusal.Reason, $"{remote.ShortForm} refused: {refusal.Text}");
            }

            connection = await PeerConnection.EstablishAsync(tls, isClient, remote, remoteEndPoint, _hello, _services, _logger, _time, _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or AuthenticationException or OperationCanceledException or HandshakeException or SocketException)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            _logger.Log(
                e is HandshakeException { Reason: CloseReason.NotAMember } ? LogLevel.Warning : LogLevel.Debug,
                "Connection {Direction} {EndPoint} refused: {Error}",
                isClient ? "to" : "from",
                dialledAs ?? remoteEndPoint?.ToString(),
                e.Message);
            if (isClient) throw;
            return null;
        }

        var registered = Register(connection);
        if (registered != connection)
        {
            connection.Close(CloseReason.Duplicate, "already connected");
            return registered;
        }

        connection.Start();
        _logger.LogInformation("Connected to {Name} ({Device}) {Direction} {EndPoint}", connection.RemoteName, connection.RemoteId.ShortForm, isClient ? "→" : "←", remoteEndPoint);
        _catalog.UpsertPeer(new PeerRecord(connection.RemoteId, connection.RemoteName, [.. AddressesOf(connection)], _time.GetUtcNow()));
        Connected?.Invoke(connection);
        return connection;
    }

    /// <summary>
    /// When two nodes dial each other at once both links complete; both sides keep the one dialled by the
    /// smaller device id, so they agree without talking.
    /// </summary>
    private PeerConnection Register(PeerConnection connection)
    {
        while (true)
        {
            if (_connections.TryAdd(connection.RemoteId, connection)) return connection;
            if (!_connections.TryGetValue(connection.RemoteId, out var existing)) continue;
            var replace = !existing.IsOpen || (Preferred(connection) && !Preferred(existing));
            if (!replace) return existing;
            if (_connections.TryUpdate(connection.RemoteId, connection, existing))
            {
                existing.Close(CloseReason.Duplicate, "replaced by a simultaneous connection");
                return connection;
            }
        }
    }

    private bool Preferred(PeerConnection connection)
    {
        var dialler = connection.IsClient ? _identity.DeviceId : connection.RemoteId;
        var other = connection.IsClient ? connection.RemoteId : _identity.DeviceId;
        return dialler.CompareTo(other) < 0;
    }

    /// <summary>Called when a connection has closed, so a newer one for the same device is left alone.</summary>
    public void Forget(PeerConnection connection)
    {
        _connections.TryRemove(KeyValuePair.Create(connection.RemoteId, connection));
        var record = _catalog.GetPeer(connection.RemoteId);
        if (record is not null) _catalog.UpsertPeer(record with { LastSeen = _time.GetUtcNow() });
    }

    public void Disconnect(DeviceId device, CloseReason reason, string text)
    {
        if (_connections.TryGetValue(device, out var connection)) connection.Close(reason, text);
    }

    public void Broadcast(Message message)
    {
        foreach (var connection in _connections.Values) connection.Send(message);
    }

    public static IEnumerable<string> AddressesOf(PeerConnection connection)
    {
        if (connection.RemoteEndPoint is not IPEndPoint ep) yield break;
        var address = ep.Address.IsIPv4MappedToIPv6 ? ep.Address.MapToIPv4() : ep.Address;
        var port = connection.IsClient ? ep.Port : connection.RemoteListenPort;
        yield return Endpoints.Format(new IPEndPoint(address, port));
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var listener in _listeners) listener.Dispose();
        foreach (var connection in _connections.Values) await connection.DisposeAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_acceptLoops.Concat(_dialers.Values)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Loops end by cancellation.
        }

        _stopping.Dispose();
    }
}
