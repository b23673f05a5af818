using System.Net;
using System.Threading.Channels;

namespace Shoal.Net.Discovery;

/// <summary>
/// Received datagrams waiting for the discovery loop. Bounded: a flood drops datagrams here instead of growing
/// memory, before any of them costs a decryption.
/// </summary>
internal sealed class DatagramInbox(int capacity, string owner)
{
    private readonly Channel<(byte[] Datagram, IPEndPoint Source)> _channel =
        Channel.CreateBounded<(byte[] Datagram, IPEndPoint Source)>(
            new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    public void Post(byte[] datagram, IPEndPoint source) => _channel.Writer.TryWrite((datagram, source));

    public void Complete() => _channel.Writer.TryComplete();

    /// <summary>Copies the next datagram into <paramref name="buffer"/> (truncating what does not fit).</summary>
    public async ValueTask<(int Length, IPEndPoint Source)> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        byte[] datagram;
        IPEndPoint source;
        try
        {
            (datagram, source) = await _channel.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(owner);
        }

        var length = Math.Min(datagram.Length, buffer.Length);
        datagram.AsSpan(0, length).CopyTo(buffer.Span);
        return (length, source);
    }
}
