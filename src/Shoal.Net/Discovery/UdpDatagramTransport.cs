using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Shoal.Net.Discovery;

/// <summary>
/// Announcements over UDP on one port: IPv4 broadcast (to 255.255.255.255 and to every interface's subnet broadcast
/// address, since the limited broadcast leaves only through the default route's interface) and IPv6 multicast to
/// <see cref="MulticastGroup"/> on every multicast-capable interface. Both sockets set address reuse before binding,
/// so every node on a host binds the same port and each receives every broadcast and multicast datagram. Each
/// family works without the other: a host without IPv6 still discovers over IPv4.
/// </summary>
public sealed class UdpDatagramTransport : IDatagramTransport
{
    /// <summary>
    /// ff12::5ab:1: flags 1 (transient, so no IANA assignment is claimed) and scope 2 (link-local, so routers never
    /// forward it: discovery stays on the local link, like the IPv4 broadcast).
    /// </summary>
    public static readonly IPAddress MulticastGroup = IPAddress.Parse("ff12::5ab:1");

    // UDP's maximum payload: a datagram is read whole, so its length tells the receiver if it was oversized.
    private const int MaxDatagramSize = 65_536;
    private const int InboxCapacity = 256;

    private static readonly TimeSpan ErrorPause = TimeSpan.FromMilliseconds(100);

    private readonly int _port;
    private readonly ILogger _logger;
    private readonly Socket? _v4;
    private readonly Socket? _v6;
    private readonly CancellationTokenSource _stopping = new();
    private readonly DatagramInbox _inbox = new(InboxCapacity, nameof(UdpDatagramTransport));
    private readonly List<Task> _receivers = [];
    private int _disposed;

    public UdpDatagramTransport(int port, ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, IPEndPoint.MaxPort);
        _port = port;
        _logger = logger;

        SocketException? v4Error = null;
        try
        {
            _v4 = OpenV4(port);
        }
        catch (SocketException e)
        {
            v4Error = e;
            _logger.LogDebug("Discovery: no IPv4 broadcast on UDP port {Port}: {Error}", port, e.Message);
        }

        try
        {
            _v6 = OpenV6(port);
        }
        catch (SocketException e)
        {
            _logger.LogDebug("Discovery: no IPv6 multicast on UDP port {Port}: {Error}", port, e.Message);
            if (v4Error is not null) throw;
        }

        if (_v6 is not null) JoinGroup();
        foreach (var socket in new[] { _v4, _v6 })
        {
            if (socket is not null) _receivers.Add(Task.Run(() => ReceiveLoopAsync(socket, _stopping.Token)));
        }

        NetworkChange.NetworkAddressChanged += OnNetworkAddressChanged;
    }

    public event Action? LocalAddressesChanged;

    public async ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var targets = new List<(Socket Socket, IPEndPoint Target)>();
        if (_v4 is not null) targets.AddRange(BroadcastTargets().Select(t => (_v4, t)));
        if (_v6 is not null) targets.AddRange(MulticastInterfaces().Select(i => (_v6, MulticastTarget(i))));

        SocketException? lastError = null;
        var sent = 0;
        foreach (var (socket, target) in targets)
        {
            try
            {
                await socket.SendToAsync(datagram, SocketFlags.None, target, cancellationToken).ConfigureAwait(false);
                sent++;
            }
            catch (SocketException e)
            {
                // One unreachable target (an interface going down, no default route) must not silence the others.
                lastError = e;
                _logger.LogDebug("Discovery: sending to {Target} failed: {Error}", target, e.Message);
            }
        }

        if (sent == 0 && lastError is not null) throw lastError;
    }

    public ValueTask<(int Length, IPEndPoint Source)> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        _inbox.ReceiveAsync(buffer, cancellationToken);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        NetworkChange.NetworkAddressChanged -= OnNetworkAddressChanged;
        _stopping.Cancel();
        _v4?.Dispose();
        _v6?.Dispose();
        _inbox.Complete();
        _stopping.Dispose();
    }

    private static Socket OpenV4(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.EnableBroadcast = true;
            socket.Bind(new IPEndPoint(IPAddress.Any, port));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static Socket OpenV6(int port)
    {
        var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            // IPv4 arrives on its own socket; a dual-mode socket here would hear nothing more and clash with its bind.
            socket.DualMode = false;
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastLoopback, true);
            socket.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private IEnumerable<IPEndPoint> BroadcastTargets()
    {
        var targets = new HashSet<IPEndPoint> { new(IPAddress.Broadcast, _port) };
        foreach (var nic in UsableInterfaces())
        {
            if (!nic.Supports(NetworkInterfaceComponent.IPv4)) continue;
            foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
            {
                // A /31 or /32 (point-to-point links, tunnels) has no broadcast address.
                if (unicast.Address.AddressFamily != AddressFamily.InterNetwork || unicast.PrefixLength is < 1 or > 30) continue;
                var address = unicast.Address.GetAddressBytes();
                var mask = unicast.IPv4Mask.GetAddressBytes();
                for (var i = 0; i < address.Length; i++) address[i] = (byte)(address[i] | ~mask[i]);
                targets.Add(new IPEndPoint(new IPAddress(address), _port));
            }
        }

        return targets;
    }

    private IPEndPoint MulticastTarget(int interfaceIndex) =>
        new(new IPAddress(MulticastGroup.GetAddressBytes(), interfaceIndex), _port);

    private static IEnumerable<int> MulticastInterfaces()
    {
        foreach (var nic in UsableInterfaces())
        {
            if (!nic.SupportsMulticast || !nic.Supports(NetworkInterfaceComponent.IPv6)) continue;
            int index;
            try
            {
                index = nic.GetIPProperties().GetIPv6Properties().Index;
            }
            catch (NetworkInformationException)
            {
                continue;
            }

            yield return index;
        }
    }

    // Linux reports the loopback interface's state as Unknown; it still carries broadcasts between nodes of one host.
    private static IEnumerable<NetworkInterface> UsableInterfaces() =>
        NetworkInterface.GetAllNetworkInterfaces().Where(nic =>
            nic.OperationalStatus == OperationalStatus.Up
            || (nic.OperationalStatus == OperationalStatus.Unknown && nic.NetworkInterfaceType == NetworkInterfaceType.Loopback));

    private void JoinGroup()
    {
        foreach (var index in MulticastInterfaces())
        {
            try
            {
                _v6!.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.AddMembership, new IPv6MulticastOption(MulticastGroup, index));
                _logger.LogDebug("Discovery: joined {Group} on interface {Index}", MulticastGroup, index);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                // Joined before this address change: membership survives the interface's address changes.
            }
            catch (SocketException e)
            {
                _logger.LogDebug("Discovery: joining {Group} on interface {Index} failed: {Error}", MulticastGroup, index, e.Message);
            }
        }
    }

    private void OnNetworkAddressChanged(object? sender, EventArgs e)
    {
        // Runs on a thread-pool callback, where an exception would end the process.
        try
        {
            if (_disposed != 0) return;
            if (_v6 is not null) JoinGroup();
            LocalAddressesChanged?.Invoke();
        }
        catch (Exception error)
        {
            _logger.LogDebug(error, "Discovery: handling an address change failed");
        }
    }

    private async Task ReceiveLoopAsync(Socket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxDatagramSize];
        EndPoint any = socket.AddressFamily == AddressFamily.InterNetwork
            ? new IPEndPoint(IPAddress.Any, 0)
            : new IPEndPoint(IPAddress.IPv6Any, 0);
        while (!cancellationToken.IsCancellationRequested)
        {
            var failed = false;
            try
            {
                var result = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, cancellationToken).ConfigureAwait(false);
                // Dropped when full: a flood must cost bounded memory, and the reader rate-limits anyway.
                _inbox.Post(buffer.AsSpan(0, result.ReceivedBytes).ToArray(), (IPEndPoint)result.RemoteEndPoint);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                // ICMP errors from earlier sends (port unreachable) surface here on some systems; the socket is fine.
                _logger.LogDebug("Discovery: receive on {Family} failed: {Error}", socket.AddressFamily, e.Message);
                failed = true;
            }

            // A socket that keeps failing must not spin a core.
            if (failed) await Task.Delay(ErrorPause, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }
}
