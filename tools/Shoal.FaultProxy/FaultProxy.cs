using System.Net;
using System.Net.Sockets;

namespace Shoal.Faults;

/// <summary>
/// A TCP forwarder that puts faults between a client and a target: delay, throttle, stall, cut, refuse and bit
/// flips, per direction (<see cref="Upstream"/> is client to target, <see cref="Downstream"/> target to client),
/// changeable at run time. It knows nothing of what it carries. Random choices come from generators seeded from
/// <see cref="Seed"/> and the connection's number, so the same traffic through the same settings is corrupted the
/// same way in every run.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private readonly HashSet<ProxyConnection> _open = [];
    private readonly List<Task> _running = [];
    private readonly Task _accepting;
    private IPEndPoint? _target;
    private long _accepted;
    private volatile bool _refusing;

    private FaultProxy(Socket listener, IPEndPoint? target, int seed, TimeProvider time)
    {
        _listener = listener;
        _target = target;
        _time = time;
        Seed = seed;
        EndPoint = (IPEndPoint)listener.LocalEndPoint!;
        Upstream = new LinkFaults("up", time);
        Downstream = new LinkFaults("down", time);
        _accepting = Task.Run(AcceptLoopAsync);
    }

    /// <summary>
    /// Listens on <paramref name="listen"/> (default 127.0.0.1, a free port) and forwards each connection to
    /// <paramref name="target"/>; with no target yet, connections are reset until one is set.
    /// </summary>
    public static FaultProxy Start(IPEndPoint? target, IPEndPoint? listen = null, int seed = 0, TimeProvider? time = null)
    {
        listen ??= new IPEndPoint(IPAddress.Loopback, 0);
        var socket = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(listen);
            socket.Listen(128);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new FaultProxy(socket, target, seed, time ?? TimeProvider.System);
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Where new connections go; a target that moved (a restarted node on a new port) can be set at any time.</summary>
    public IPEndPoint? Target
    {
        get
        {
            lock (_gate) return _target;
        }

        set
        {
            lock (_gate) _target = value;
        }
    }

    public int Seed { get; }

    /// <summary>Client to target.</summary>
    public LinkFaults Upstream { get; }

    /// <summary>Target to client.</summary>
    public LinkFaults Downstream { get; }

    /// <summary>While set, new connections are reset at once, as if the link were down.</summary>
    public bool Refusing
    {
        get => _refusing;
        set => _refusing = value;
    }

    public long ConnectionsAccepted => Interlocked.Read(ref _accepted);

    public int OpenConnections
    {
        get
        {
            lock (_gate) return _open.Count;
        }
    }

    /// <summary>Resets every open connection (both ends see a reset); returns how many there were.</summary>
    public int Cut()
    {
        List<ProxyConnection> open;
        lock (_gate) open = [.. _open];
        foreach (var connection in open) connection.Abort();
        return open.Count;
    }

    /// <summary>Both directions back to clear and new connections accepted again.</summary>
    public void Clear()
    {
        Refusing = false;
        Upstream.Clear();
        Downstream.Clear();
    }

    public override string ToString() =>
        $"{EndPoint} -> {Target?.ToString() ?? "(no target)"}{(Refusing ? " refusing" : "")}; {Upstream}; {Downstream}";

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stopping.IsCancellationRequested) return;
                continue;
            }

            var number = Interlocked.Increment(ref _accepted);
            var target = Target;
            if (_refusing || target is null)
            {
                ProxyConnection.Reset(client);
                continue;
            }

            var connection = new ProxyConnection(this, client, target, number, _time, _stopping.Token);
            lock (_gate)
            {
                _open.Add(connection);
                _running.RemoveAll(t => t.IsCompleted);
                _running.Add(RunAsync(connection));
            }
        }
    }

    private async Task RunAsync(ProxyConnection connection)
    {
        await Task.Yield();
        try
        {
            await connection.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            lock (_gate) _open.Remove(connection);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accepting.ConfigureAwait(false);
        Cut();
        Task[] running;
        lock (_gate) running = [.. _running];
        await Task.WhenAll(running).ConfigureAwait(false);
        Upstream.Resume();
        Downstream.Resume();
        _stopping.Dispose();
    }
}
