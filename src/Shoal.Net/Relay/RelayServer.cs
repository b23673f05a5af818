using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Shoal.Core;

namespace Shoal.Net.Relay;

/// <summary>
/// Forwards opaque bytes between two members that cannot reach each other. A device that wants to be reachable keeps
/// a control connection (<see cref="RelayRole.Listen"/>); a member that wants it opens a <see cref="RelayRole.Connect"/>
/// connection, the relay tells the device on its control connection, the device answers with an
/// <see cref="RelayRole.Accept"/> connection, and from then on the relay copies bytes between the two. The nodes run
/// TLS end to end through it: the relay never holds their keys, so it can neither read nor (unnoticed) alter what it
/// forwards. Every connection proves membership of a network (<see cref="RelayCredentials"/>), and
/// <see cref="RelayLedger"/> bounds what each network may take.
/// </summary>
public sealed class RelayServer : IAsyncDisposable
{
    private const int BufferSize = 64 * 1024;
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan AcceptTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PingInterval = TimeSpan.FromSeconds(25);

    private readonly Socket _listener;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Stream? _tap;
    private readonly Lock _tapGate = new();
    private readonly SemaphoreSlim _connections;
    private readonly ConcurrentDictionary<(string Network, DeviceId Device), Control> _controls = new();
    private readonly ConcurrentDictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<Task, byte> _handlers = new();
    private readonly Task _acceptLoop;

    private RelayServer(Socket listener, RelayLimits limits, ILogger logger, TimeProvider time, Stream? tap)
    {
        _listener = listener;
        _logger = logger;
        _time = time;
        _tap = tap;
        Ledger = new RelayLedger(limits, time);
        _connections = new SemaphoreSlim(limits.MaxConnections);
        EndPoint = (IPEndPoint)listener.LocalEndPoint!;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public IPEndPoint EndPoint { get; }

    public RelayLedger Ledger { get; }

    /// <summary>Bytes forwarded so far, both directions.</summary>
    public long ForwardedBytes => Interlocked.Read(ref _forwarded);

    private long _forwarded;

    /// <param name="tap">For tests only: every forwarded byte is also written here (to show the relay sees ciphertext).</param>
    public static RelayServer Start(IPEndPoint listen, RelayLimits limits, ILogger logger, TimeProvider time, Stream? tap = null)
    {
        ArgumentNullException.ThrowIfNull(listen);
        var socket = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (listen.AddressFamily == AddressFamily.InterNetworkV6 && listen.Address.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
        try
        {
            socket.Bind(listen);
            socket.Listen(512);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new IOException($"cannot listen on {listen}: {e.Message}", e);
        }

        return new RelayServer(socket, limits, logger, time, tap);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stopping.IsCancellationRequested) return;
                continue;
            }

            if (!_connections.Wait(0))
            {
                // Full: refused at once rather than queued, so a flood costs nothing but the accept.
                socket.Dispose();
                continue;
            }

            socket.NoDelay = true;
            var handler = Task.Run(() => HandleAsync(socket));
            _handlers.TryAdd(handler, 0);
            _ = handler.ContinueWith(t => _handlers.TryRemove(t, out _), TaskScheduler.Default);
        }
    }

    private async Task HandleAsync(Socket socket)
    {
        var stream = new NetworkStream(socket, ownsSocket: true);
        var handedOver = false;
        try
        {
            var nonce = RandomNumberGenerator.GetBytes(RelayFrames.NonceSize);
            RelayHello hello;
            string network;
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token))
            {
                handshake.CancelAfter(HandshakeTimeout);
                await RelayWire.WriteAsync(stream, new RelayChallenge(nonce), handshake.Token).ConfigureAwait(false);
                if (await RelayWire.ReadAsync(stream, handshake.Token).ConfigureAwait(false) is not RelayHello said)
                {
                    await RefuseAsync(stream, RelayStatus.ProtocolError, "expected a hello").ConfigureAwait(false);
                    return;
                }

                hello = said;
                if (RelayCredentials.Verify(hello, nonce) is not { } tag)
                {
                    await RefuseAsync(stream, RelayStatus.NotAMember, "not a member of any network: bad network signature").ConfigureAwait(false);
                    return;
                }

                network = tag;
            }

            handedOver = hello.Role switch
            {
                RelayRole.Listen => await ListenAsync(stream, network, hello.Device).ConfigureAwait(false),
                RelayRole.Connect => await ConnectAsync(stream, network, hello).ConfigureAwait(false),
                _ => await AcceptAsync(stream, network, hello).ConfigureAwait(false),
            };
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or SocketException or ObjectDisposedException)
        {
            _logger.LogDebug("Relay connection from {Remote} ended: {Error}", socket.RemoteEndPoint, e.Message);
        }
        finally
        {
            if (!handedOver)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                _connections.Release();
            }
        }
    }

    /// <summary>Holds a control connection until it closes, passing on sessions opened to its device.</summary>
    private async Task<bool> ListenAsync(NetworkStream stream, string network, DeviceId device)
    {
        using var lease = Ledger.TryListen(network);
        if (lease is null)
        {
            await RefuseAsync(stream, RelayStatus.LimitReached, "this relay serves no more devices of this network").ConfigureAwait(false);
            return false;
        }

        using var control = new Control(stream, _stopping.Token);
        if (_controls.TryGetValue((network, device), out var older)) older.Cancel();
        _controls[(network, device)] = control;
        try
        {
            await control.SendAsync(new RelayResult(RelayStatus.Ok, "listening")).ConfigureAwait(false);
            _logger.LogInformation("Relay: {Device} of network {Network} is reachable here", device.ShortForm, network[..8]);
            var reading = DrainAsync(stream, control.Token);
            using var timer = new PeriodicTimer(PingInterval, _time);
            while (!reading.IsCompleted)
            {
                var tick = timer.WaitForNextTickAsync(control.Token).AsTask();
                await Task.WhenAny(tick, reading).ConfigureAwait(false);
                if (tick.IsCompletedSuccessfully && tick.Result) await control.SendAsync(new RelayPing()).ConfigureAwait(false);
                else break;
            }
        }
        finally
        {
            _controls.TryRemove(KeyValuePair.Create((network, device), control));
        }

        return false;
    }

    /// <summary>A control connection sends nothing the relay needs; reading only tells when it closes.</summary>
    private static async Task DrainAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[64];
        try
        {
            while (await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // Closed either way.
        }
    }

    private async Task<bool> ConnectAsync(NetworkStream stream, string network, RelayHello hello)
    {
        var target = DeviceId.FromBytes(hello.Subject);
        if (!_controls.TryGetValue((network, target), out var control))
        {
            await RefuseAsync(stream, RelayStatus.Unavailable, "that device is not reachable through this relay").ConfigureAwait(false);
            return false;
        }

        using var lease = Ledger.TryOpenSession(network);
        if (lease is null)
        {
            await RefuseAsync(stream, RelayStatus.LimitReached, "this network has as many relayed sessions as this relay allows").ConfigureAwait(false);
            return false;
        }

        var session = RandomNumberGenerator.GetBytes(RelayFrames.SubjectSize);
        var key = Convert.ToHexString(session);
        var pending = new Pending(network, target);
        _pending[key] = pending;
        NetworkStream other;
        try
        {
            await control.SendAsync(new RelayIncoming(session, hello.Device)).ConfigureAwait(false);
            other = await pending.Accepted.Task.WaitAsync(AcceptTimeout, _time, _stopping.Token).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // An accept that slipped in as the wait ended would be nobody's: closed here.
            if (!pending.Accepted.TrySetCanceled())
            {
                await pending.Accepted.Task.Result.DisposeAsync().ConfigureAwait(false);
                _connections.Release();
            }

            await RefuseAsync(stream, RelayStatus.Unavailable, "the device did not answer").ConfigureAwait(false);
            return false;
        }
        finally
        {
            _pending.TryRemove(key, out _);
        }

        // The accepting side's connection is ours now: it counts against the limit until the session ends.
        try
        {
            await RelayWire.WriteAsync(other, new RelayResult(RelayStatus.Ok, "connected"), _stopping.Token).ConfigureAwait(false);
            await RelayWire.WriteAsync(stream, new RelayResult(RelayStatus.Ok, "connected"), _stopping.Token).ConfigureAwait(false);
            _logger.LogInformation("Relay: session {From} → {To} of network {Network}", hello.Device.ShortForm, target.ShortForm, network[..8]);
            await SpliceAsync(stream, other, lease.Bandwidth).ConfigureAwait(false);
        }
        finally
        {
            await other.DisposeAsync().ConfigureAwait(false);
            _connections.Release();
        }

        return false;
    }

    private async Task<bool> AcceptAsync(NetworkStream stream, string network, RelayHello hello)
    {
        var key = Convert.ToHexString(hello.Subject);
        if (!_pending.TryGetValue(key, out var pending) || pending.Network != network || pending.Target != hello.Device || !pending.Accepted.TrySetResult(stream))
        {
            await RefuseAsync(stream, RelayStatus.Unavailable, "no such session").ConfigureAwait(false);
            return false;
        }

        return true;
    }

    /// <summary>Copies both ways until both sides are done; each end's close is passed on as a half-close.</summary>
    private async Task SpliceAsync(NetworkStream a, NetworkStream b, TokenBucket bandwidth)
    {
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        var pumps = new[] { PumpAsync(a, b, bandwidth, failed), PumpAsync(b, a, bandwidth, failed) };
        await Task.WhenAll(pumps).ConfigureAwait(false);
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, TokenBucket bandwidth, CancellationTokenSource failed)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer.AsMemory(0, BufferSize), failed.Token).ConfigureAwait(false)) > 0)
            {
                await bandwidth.WaitAsync(read, failed.Token).ConfigureAwait(false);
                if (_tap is not null)
                {
                    lock (_tapGate) _tap.Write(buffer, 0, read);
                }

                await to.WriteAsync(buffer.AsMemory(0, read), failed.Token).ConfigureAwait(false);
                Interlocked.Add(ref _forwarded, read);
            }

            to.Socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // One side broke: the other direction has nothing to wait for.
            await failed.CancelAsync().ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task RefuseAsync(NetworkStream stream, RelayStatus status, string text)
    {
        _logger.LogDebug("Relay refused {Remote}: {Reason}", stream.Socket.RemoteEndPoint, text);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        timeout.CancelAfter(HandshakeTimeout);
        await RelayWire.WriteAsync(stream, new RelayResult(status, text), timeout.Token).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        await Task.WhenAll(_handlers.Keys).ConfigureAwait(false);
        if (_tap is not null) await _tap.FlushAsync().ConfigureAwait(false);
        _stopping.Dispose();
        _connections.Dispose();
    }

    private sealed record Pending(string Network, DeviceId Target)
    {
        public TaskCompletionSource<NetworkStream> Accepted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>A device's control connection; writes from several sessions are serialised.</summary>
    private sealed class Control(NetworkStream stream, CancellationToken stopping) : IDisposable
    {
        private readonly SemaphoreSlim _writing = new(1);
        private readonly CancellationTokenSource _lifetime = CancellationTokenSource.CreateLinkedTokenSource(stopping);

        public CancellationToken Token => _lifetime.Token;

        /// <summary>A newer control connection of the same device replaced this one.</summary>
        public void Cancel()
        {
            try
            {
                _lifetime.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // It had ended already.
            }
        }

        public async Task SendAsync(RelayFrame frame)
        {
            await _writing.WaitAsync(Token).ConfigureAwait(false);
            try
            {
                await RelayWire.WriteAsync(stream, frame, Token).ConfigureAwait(false);
            }
            finally
            {
                _writing.Release();
            }
        }

        public void Dispose()
        {
            _lifetime.Dispose();
            _writing.Dispose();
        }
    }
}
