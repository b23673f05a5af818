using System.Net;
using System.Net.Sockets;
using Shoal.Core;
using Shoal.Net.Tracking;

namespace Shoal.Net.Relay;

/// <summary>The relay refused a connection, or broke the protocol; the message says why.</summary>
public sealed class RelayRefusedException(RelayStatus status, string message) : IOException(message)
{
    public RelayStatus Status { get; } = status;
}

/// <summary>Frames on a stream. Reads take exactly one frame, never a byte more: what follows is the forwarded TLS.</summary>
public static class RelayWire
{
    public static async Task<RelayFrame> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var prefix = new byte[2];
        await stream.ReadExactlyAsync(prefix, cancellationToken).ConfigureAwait(false);
        if (!RelayFrames.TryReadLength(prefix, out var length)) throw new RelayRefusedException(RelayStatus.ProtocolError, "relay frame too long or empty");
        var frame = new byte[length];
        await stream.ReadExactlyAsync(frame, cancellationToken).ConfigureAwait(false);
        return RelayFrames.TryDecode(frame, out var decoded, out var error) ? decoded! : throw new RelayRefusedException(RelayStatus.ProtocolError, error);
    }

    public static async Task WriteAsync(Stream stream, RelayFrame frame, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        await stream.WriteAsync(RelayFrames.Encode(frame), cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>A member's side of a relay: opens a connection in one role and hands back the stream once the relay said yes.</summary>
public static class RelayClient
{
    public static readonly byte[] NoSubject = new byte[RelayFrames.SubjectSize];

    /// <summary>
    /// Connects to <paramref name="relay"/> and says hello. For <see cref="RelayRole.Connect"/> and
    /// <see cref="RelayRole.Accept"/> the stream returned carries the peer's bytes from then on; for
    /// <see cref="RelayRole.Listen"/> it carries <see cref="RelayIncoming"/> and <see cref="RelayPing"/> frames.
    /// </summary>
    public static async Task<NetworkStream> OpenAsync(
        EndPoint relay, NetworkTrackerKey key, RelayRole role, DeviceId device, byte[] subject, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        NetworkStream? stream = null;
        try
        {
            await socket.ConnectAsync(relay, cancellationToken).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (await RelayWire.ReadAsync(stream, cancellationToken).ConfigureAwait(false) is not RelayChallenge challenge)
            {
                throw new RelayRefusedException(RelayStatus.ProtocolError, "the relay did not start with a challenge");
            }

            await RelayWire.WriteAsync(stream, RelayCredentials.Hello(key, role, device, subject, challenge.Nonce), cancellationToken).ConfigureAwait(false);
            var answer = await RelayWire.ReadAsync(stream, cancellationToken).ConfigureAwait(false);
            if (answer is not RelayResult result) throw new RelayRefusedException(RelayStatus.ProtocolError, "the relay did not answer the hello");
            if (result.Status != RelayStatus.Ok) throw new RelayRefusedException(result.Status, $"relay {relay}: {result.Text}");
            return stream;
        }
        catch
        {
            if (stream is not null) await stream.DisposeAsync().ConfigureAwait(false);
            else socket.Dispose();
            throw;
        }
    }
}
