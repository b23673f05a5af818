using System.Net;

namespace Shoal.Net.Discovery;

/// <summary>Where discovery sends and hears announcements; the seam that lets tests run without a network.</summary>
public interface IDatagramTransport : IDisposable
{
    /// <summary>
    /// Raised when this host's addresses or interfaces change, so the node announces its new addresses at once
    /// instead of at the next interval.
    /// </summary>
    event Action? LocalAddressesChanged;

    /// <summary>Sends one datagram to every configured target (broadcast and multicast groups).</summary>
    ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken);

    /// <summary>
    /// Receives the next datagram into <paramref name="buffer"/>. Like a UDP socket, a datagram longer than the
    /// buffer is cut to it, so a caller detects oversized datagrams with a buffer one byte longer than it accepts.
    /// </summary>
    ValueTask<(int Length, IPEndPoint Source)> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken);
}
