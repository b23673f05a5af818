using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Shoal.Tracker.Nat;

/// <summary>
/// Whether a node can be dialled at the address the tracker sees it at: the tracker connects back to the request's
/// source address with the announced listen port, in the background, and reports what it found in later answers.
/// Only the requester's own address is ever probed, so the tracker cannot be aimed at anyone else. Bounded: a result
/// per device (all forgotten past <see cref="MaxEntries"/>), at most <see cref="MaxProbes"/> probes at once.
/// </summary>
internal sealed class Reachability(Func<IPEndPoint, CancellationToken, Task<bool>> probe, TimeProvider time)
{
    public const int MaxEntries = 100_000;
    public const int MaxProbes = 32;
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(2);

    private readonly ConcurrentDictionary<(string Network, string Device), Entry> _entries = new();
    private int _probing;

    /// <summary>What is known of the device at <paramref name="address"/>; probes again when that is nothing or old.</summary>
    public bool? Check(string network, string device, IPEndPoint address)
    {
        var key = (network, device);
        var now = time.GetUtcNow();
        var known = _entries.TryGetValue(key, out var entry) && entry.Address.Equals(address) ? entry : null;
        if (known is null || (known.Result is not null && now - known.CheckedAt > Lifetime)) StartProbe(key, address, known?.Result, now);
        return known?.Result;
    }

    /// <summary>The last result for the device, whatever its address.</summary>
    public bool? Get(string network, string device) => _entries.TryGetValue((network, device), out var entry) ? entry.Result : null;

    private void StartProbe((string, string) key, IPEndPoint address, bool? previous, DateTimeOffset now)
    {
        if (Interlocked.Increment(ref _probing) > MaxProbes)
        {
            Interlocked.Decrement(ref _probing);
            return;
        }

        if (_entries.Count >= MaxEntries) _entries.Clear();

        // Marked as checked now, so the announces that arrive while the probe runs do not start more.
        _entries[key] = new Entry(address, previous, now);
        _ = Task.Run(async () =>
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                var reachable = await probe(address, timeout.Token).ConfigureAwait(false);
                _entries[key] = new Entry(address, reachable, time.GetUtcNow());
            }
            finally
            {
                Interlocked.Decrement(ref _probing);
            }
        });
    }

    /// <summary>A TCP connect, closed at once: the node's listener sees a connection that never says hello.</summary>
    public static async Task<bool> ConnectAsync(IPEndPoint address, CancellationToken cancellationToken)
    {
        using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(address, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    private sealed record Entry(IPEndPoint Address, bool? Result, DateTimeOffset CheckedAt);
}
