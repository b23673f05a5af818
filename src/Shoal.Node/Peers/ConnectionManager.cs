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
    private readonly Lock _admission = new();
    private int _admitting;
    private long _busyRefusals;

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

    public KeepAlive KeepAlive { get; init; } = KeepAlive.Default;

    /// <summary>Most links at once, counting those still in their handshake; beyond it a device dialling in is told to come back later (0: no limit).</summary>
    public int MaxConnections { get; init; }

    /// <summary>How long a device refused as <see cref="CloseReason.Busy"/> is asked to wait before dialling again.</summary>
    public static TimeSpan BusyRetryAfter { get; } = TimeSpan.FromSeconds(10);

    /// <summary>Devices told to come back later because this node was at <see cref="MaxConnections"/>.</summary>
    public long BusyRefusals => Interlocked.Read(ref _busyRefusals);

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
            // Hole punching dials from the listen port, which takes SO_REUSEPORT on the listener too; an exclusive
            // bind first still tells a second node that the port is taken.
            if (endPoint.Port != 0) ListenPortSockets.ProbeExclusive(endPoint);
            ListenPortSockets.ShareListenPort(socket);
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

            var admitted = TryAdmit();
            _ = Task.Run(async () =>
            {
                try
                {
                    await HandleAsync(socket, isClient: false, dialledAs: null, busy: !admitted).ConfigureAwait(false);
                }
                finally
                {
                    if (admitted) lock (_admission) _admitting--;
                }
            });
        }
    }

    /// <summary>Counted before TLS, so handshakes under way count too and a burst of diallers cannot overshoot the limit.</summary>
    private bool TryAdmit()
    {
        lock (_admission)
        {
            if (MaxConnections > 0 && _connections.Count + _admitting >= MaxConnections) return false;
            _admitting++;
            return true;
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
            catch (HandshakeException e) when (e.Reason == CloseReason.Busy)
            {
                // Not a failure: the peer has room later. Waiting as asked, without growing the backoff, gets in soonest.
                _logger.LogInformation("{Address} is busy; dialling again in {Seconds} s", address, e.RetryAfter.TotalSeconds);
                try
                {
                    await Task.Delay(e.RetryAfter * (0.75 + (Random.Shared.NextDouble() * 0.5)), _time, _stopping.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
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

    /// <param name="busy">Accepted over <see cref="MaxConnections"/>: refused as busy after TLS, unless the device already has a link to replace.</param>
    /// <param name="kind">How the socket reaches the peer; a relayed link's remote end point is the relay's, not the peer's.</param>
    /// <param name="expected">The device a punched or relayed link was opened for: anyone else is dropped after TLS.</param>
    private async Task<PeerConnection?> HandleAsync(Socket socket, bool isClient, string? dialledAs, bool busy = false, LinkKind kind = LinkKind.Direct, DeviceId? expected = null)
    {
        socket.NoDelay = true;
        var remoteEndPoint = kind == LinkKind.Relayed ? null : socket.RemoteEndPoint;
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
            if (expected is { } wanted && remote != wanted)
            {
                await tls.DisposeAsync().ConfigureAwait(false);
                throw new AuthenticationException($"expected {wanted.ShortForm} but {remote.ShortForm} answered");
            }

            // Refused before any hello: a banned or revoked device learns why, and nothing else.
            if ((_refusal(remote) ?? BusyRefusal(remote, busy)) is { } refusal)
            {
                var retryAfter = refusal.Reason == CloseReason.Busy ? (ushort)BusyRetryAfter.TotalSeconds : (ushort)0;
                await tls.WriteAsync(FrameCodec.Encode(new Close(refusal.Reason, refusal.Text, retryAfter)), timeout.Token).ConfigureAwait(false);
                await tls.FlushAsync(timeout.Token).ConfigureAwait(false);
                await tls.DisposeAsync().ConfigureAwait(false);
                throw new HandshakeException(refusal.Reason, $"{remote.ShortForm} refused: {refusal.Text}");
            }

            connection = await PeerConnection.EstablishAsync(tls, isClient, remote, remoteEndPoint, kind, _hello, _services, _logger, _time, _stopping.Token).ConfigureAwait(false);
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

        connection.KeepAlive = KeepAlive;
        connection.Start();
        _logger.LogInformation("Connected to {Name} ({Device}) {Direction} {EndPoint} ({Kind})", connection.RemoteName, connection.RemoteId.ShortForm, isClient ? "→" : "←", remoteEndPoint ?? (object?)dialledAs, connection.Kind);
        List<string> addresses = [.. AddressesOf(connection)];
        if (addresses.Count == 0) addresses = [.. _catalog.GetPeer(connection.RemoteId)?.Addresses ?? []];
        _catalog.UpsertPeer(new PeerRecord(connection.RemoteId, connection.RemoteName, addresses, _time.GetUtcNow()));
        Connected?.Invoke(connection);
        return connection;
    }

    private (CloseReason Reason, string Text)? BusyRefusal(DeviceId remote, bool busy)
    {
        if (!busy || _connections.ContainsKey(remote)) return null;
        Interlocked.Increment(ref _busyRefusals);
        return (CloseReason.Busy, $"this node has its limit of {MaxConnections} peers; try again later");
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
            var replace = !existing.IsOpen || LinkPreference.Replaces(connection.Kind, Preferred(connection), existing.Kind, Preferred(existing));
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

    /// <summary>
    /// Dials <paramref name="remote"/> from the listen port, as the peer dials us at the same moment (a simultaneous
    /// open through both NATs). Both ends think they dialled, so the smaller device id takes the TLS client's part.
    /// </summary>
    public async Task<PeerConnection> PunchAsync(DeviceId peer, IPEndPoint remote, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var local = ListenEndPoints.Count > 0 ? ListenEndPoints[0] : throw new InvalidOperationException("not listening");
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        linked.CancelAfter(timeout);
        var socket = ListenPortSockets.Bind(local);
        try
        {
            await socket.ConnectAsync(remote, linked.Token).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return await HandleAsync(socket, isClient: _identity.DeviceId.CompareTo(peer) < 0, dialledAs: $"{Endpoints.Format(remote)} (punched)", kind: LinkKind.Punched, expected: peer).ConfigureAwait(false)
            ?? throw new HandshakeException(CloseReason.Duplicate, $"the punched link to {peer.ShortForm} was dropped");
    }

    /// <summary>
    /// Runs the usual handshake over a session a relay opened: <paramref name="isClient"/> for the side that asked
    /// for it. TLS is end to end, so the relay sees only ciphertext, and the membership proof is the same as ever.
    /// </summary>
    public async Task<PeerConnection> AttachRelayedAsync(Socket relayed, bool isClient, DeviceId peer, string relay)
    {
        return await HandleAsync(relayed, isClient, dialledAs: $"{peer.ShortForm} via relay {relay}", kind: LinkKind.Relayed, expected: peer).ConfigureAwait(false)
            ?? throw new HandshakeException(CloseReason.Duplicate, $"the relayed link to {peer.ShortForm} was dropped");
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
