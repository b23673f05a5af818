using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Shoal.Core;
using Shoal.Net.Connections;
using Shoal.Net.Relay;
using Shoal.Net.Tracking;
using Shoal.Node.Tracking;

namespace Shoal.Node.Peers;

/// <summary>
/// Reaches members that no address reaches: punches holes through both NATs with a tracker's help, and falls back
/// to a relay. <see cref="TraversalPlanner"/> decides what to try when; this class does it. Whatever the way, the
/// link is admitted by <see cref="ConnectionManager"/>'s usual TLS and membership checks.
/// </summary>
public sealed class NatTraversal : IAsyncDisposable
{
    public const int DefaultRelayPort = 7424;

    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);

    /// <summary>Both SYNs are retransmitted within this, so a punch that has not connected by then will not.</summary>
    private static readonly TimeSpan PunchTimeout = TimeSpan.FromSeconds(8);

    private static readonly TimeSpan RelayTimeout = TimeSpan.FromSeconds(15);

    private readonly DeviceId _self;
    private readonly ConnectionManager _connections;
    private readonly Trackers _trackers;
    private readonly Func<IReadOnlyList<string>> _configuredRelays;
    private readonly Func<DeviceId, bool> _refused;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TraversalPlanner _planner;
    private readonly ConcurrentDictionary<DeviceId, bool?> _tracked = new();
    private readonly ConcurrentDictionary<DeviceId, Task> _attempts = new();
    private readonly ConcurrentDictionary<string, Task> _controls = new(StringComparer.OrdinalIgnoreCase);
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;

    /// <param name="configuredRelays">Relays from the config (HOST:PORT), used with those the trackers offer.</param>
    /// <param name="refused">Devices never to link to (revoked, banned).</param>
    public NatTraversal(
        DeviceId self, ConnectionManager connections, Trackers trackers, Func<IReadOnlyList<string>> configuredRelays, Func<DeviceId, bool> refused,
        TraversalOptions options, ILogger logger, TimeProvider time)
    {
        _self = self;
        _connections = connections;
        _trackers = trackers;
        _configuredRelays = configuredRelays;
        _refused = refused;
        _logger = logger;
        _time = time;
        _planner = new TraversalPlanner(self, options);
    }

    /// <summary>Relays this node may use now: its config's and the trackers'.</summary>
    public IReadOnlyList<string> Relays => [.. _configuredRelays().Concat(_trackers.Relays).Distinct(StringComparer.OrdinalIgnoreCase)];

    /// <summary>Relays this node keeps a control connection to, so members can reach it through them.</summary>
    public IReadOnlyList<string> ListeningAt => [.. _controls.Keys];

    /// <summary>
    /// For the trackers' signal polls: every request leaves from the listen port (so the tracker sees the NAT's mapping
    /// of it) over one connection per tracker, closed with a reset so no TIME_WAIT blocks the same port pair next time.
    /// </summary>
    public static SocketsHttpHandler ListenPortHandler(Func<IPEndPoint> listen) => new()
    {
        MaxConnectionsPerServer = 1,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = ListenPortSockets.Bind(listen());
            try
            {
                socket.LingerState = new LingerOption(true, 0);
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };

    public void Start() => _loop = Task.Run(RunAsync);

    /// <summary>Peers a tracker listed, with whether it could dial them.</summary>
    public void OnTrackedPeers(IEnumerable<TrackedPeer> peers)
    {
        foreach (var peer in peers)
        {
            if (TrackerDeviceId.TryParse(peer.Device, out var device) && device != _self) _tracked[device] = peer.Reachable;
        }
    }

    /// <summary>A member asked (through a tracker) to punch: dial it back from the listen port after the delay.</summary>
    public void OnSignal(PunchSignal signal)
    {
        if (!TrackerDeviceId.TryParse(signal.Device, out var peer) || _refused(peer) || !IPEndPoint.TryParse(signal.Address, out var address)) return;
        _logger.LogDebug("Punch signal from {Peer}: dialling {Address} in {Delay} ms", peer.ShortForm, signal.Address, signal.DelayMs);
        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Clamp(signal.DelayMs, 0, 5000)), _time, _stopping.Token).ConfigureAwait(false);
                await PunchToAsync(peer, address).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Shutting down.
            }
        });
    }

    private async Task RunAsync()
    {
        using var timer = new PeriodicTimer(Tick, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                KeepControlConnections();
                Plan();
            }
        }
        catch (OperationCanceledException)
        {
            // Shutting down.
        }
    }

    private void Plan()
    {
        var now = _time.GetUtcNow();
        var relays = Relays;
        var selfReachable = _trackers.Reachable;
        _planner.Retain(_tracked.Keys.ToHashSet());
        foreach (var (peer, reachable) in _tracked)
        {
            if (_refused(peer) || _attempts.ContainsKey(peer)) continue;
            var link = _connections.Get(peer) is { IsOpen: true } c ? c.Kind : (LinkKind?)null;
            var step = _planner.Next(peer, new PeerSituation(selfReachable, reachable, link, relays.Count > 0), now);
            if (step == TraversalStep.None) continue;
            var attempt = step == TraversalStep.Punch ? Task.Run(() => RequestPunchAsync(peer)) : Task.Run(() => RelayToAsync(peer, relays));
            _attempts[peer] = attempt;
            _ = attempt.ContinueWith(_ => _attempts.TryRemove(peer, out var _), TaskScheduler.Default);
        }
    }

    private async Task RequestPunchAsync(DeviceId peer)
    {
        var answer = await _trackers.PunchAsync(peer, _stopping.Token).ConfigureAwait(false);
        if (answer?.Address is null || !IPEndPoint.TryParse(answer.Address, out var address))
        {
            _planner.PunchFailed(peer, _time.GetUtcNow());
            return;
        }

        await Task.Delay(TimeSpan.FromMilliseconds(Math.Clamp(answer.DelayMs, 0, 5000)), _time, _stopping.Token).ConfigureAwait(false);
        if (!await PunchToAsync(peer, address).ConfigureAwait(false)) _planner.PunchFailed(peer, _time.GetUtcNow());
    }

    private async Task<bool> PunchToAsync(DeviceId peer, IPEndPoint address)
    {
        try
        {
            var link = await _connections.PunchAsync(peer, address, PunchTimeout, _stopping.Token).ConfigureAwait(false);
            _logger.LogInformation("Punched a hole to {Peer} at {Address}", peer.ShortForm, address);
            return link.Kind == LinkKind.Punched;
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or HandshakeException)
        {
            _logger.LogInformation("Punching to {Peer} at {Address} failed: {Error}", peer.ShortForm, address, e.Message);
            return false;
        }
    }

    private async Task RelayToAsync(DeviceId peer, IReadOnlyList<string> relays)
    {
        foreach (var relay in relays)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(RelayTimeout);
            try
            {
                var stream = await RelayClient.OpenAsync(ParseRelay(relay), _trackers.NetworkKey, RelayRole.Connect, _self, peer.Value.ToArray(), timeout.Token).ConfigureAwait(false);
                await _connections.AttachRelayedAsync(stream.Socket, isClient: true, peer, relay).ConfigureAwait(false);
                _planner.RelayConnected(peer);
                return;
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or HandshakeException or ArgumentException)
            {
                _logger.LogInformation("Reaching {Peer} through relay {Relay} failed: {Error}", peer.ShortForm, relay, e.Message);
            }
        }

        _planner.RelayFailed(peer, _time.GetUtcNow());
    }

    /// <summary>A node no tracker can dial keeps a control connection to every relay it knows, to be reached through them.</summary>
    private void KeepControlConnections()
    {
        if (_trackers.Reachable != false) return;
        foreach (var relay in Relays) _controls.GetOrAdd(relay, r => Task.Run(() => ControlLoopAsync(r)));
    }

    private async Task ControlLoopAsync(string relay)
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                var endPoint = ParseRelay(relay);
                await using var control = await RelayClient.OpenAsync(endPoint, _trackers.NetworkKey, RelayRole.Listen, _self, RelayClient.NoSubject, _stopping.Token).ConfigureAwait(false);
                _logger.LogInformation("Reachable through relay {Relay}", relay);
                backoff = TimeSpan.FromSeconds(1);
                while (true)
                {
                    if (await RelayWire.ReadAsync(control, _stopping.Token).ConfigureAwait(false) is RelayIncoming incoming && !_refused(incoming.From))
                    {
                        _ = Task.Run(() => AcceptRelayedAsync(endPoint, relay, incoming));
                    }
                }
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ArgumentException)
            {
                _logger.LogInformation("Relay {Relay}: {Error}; again in {Seconds} s", relay, e.Message, (int)backoff.TotalSeconds);
            }

            try
            {
                await Task.Delay(backoff, _time, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
        }
    }

    private async Task AcceptRelayedAsync(EndPoint endPoint, string relay, RelayIncoming incoming)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        timeout.CancelAfter(RelayTimeout);
        try
        {
            var stream = await RelayClient.OpenAsync(endPoint, _trackers.NetworkKey, RelayRole.Accept, _self, incoming.Session, timeout.Token).ConfigureAwait(false);
            await _connections.AttachRelayedAsync(stream.Socket, isClient: false, incoming.From, relay).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or HandshakeException)
        {
            _logger.LogInformation("Accepting {Peer} through relay {Relay} failed: {Error}", incoming.From.ShortForm, relay, e.Message);
        }
    }

    /// <summary>HOST:PORT (port 7424 when left out); a name is resolved when dialled.</summary>
    public static EndPoint ParseRelay(string text)
    {
        if (!Endpoints.TryParse(text, DefaultRelayPort, out var host, out var port, out var error)) throw new ArgumentException(error);
        return IPAddress.TryParse(host, out var ip) ? new IPEndPoint(ip, port) : new DnsEndPoint(host, port);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_controls.Values.Concat(_attempts.Values)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Ended by cancellation.
        }

        _stopping.Dispose();
    }
}
