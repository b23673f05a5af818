using System.Buffers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using Shoal.Core;
using Shoal.Net;
using Shoal.Protocol;

namespace Shoal.Integration.Tests.Support;

/// <summary>
/// A hand-driven TLS client: completes as much of the handshake as the test wants, then writes arbitrary bytes,
/// and records every frame the node sends back until it closes the connection.
/// </summary>
public sealed class RawPeer : IAsyncDisposable
{
    private readonly TempDirectory _directory = new("shoal-raw");
    private readonly TcpClient _client = new() { NoDelay = true };
    private SslStream _tls = null!;
    private readonly List<byte> _received = [];

    private RawPeer() => Identity = NodeIdentity.LoadOrCreate(_directory.Path);

    public NodeIdentity Identity { get; }

    public static async Task<RawPeer> ConnectAsync(TestNode target)
    {
        var peer = new RawPeer();
        await peer._client.ConnectAsync("127.0.0.1", target.Node.ListenEndPoint.Port);
        peer._tls = await TlsChannel.AuthenticateAsClientAsync(peer._client.GetStream(), peer.Identity, CancellationToken.None);
        return peer;
    }

    /// <summary>Sends a hello and a proof computed with <paramref name="membership"/>, as a real client would.</summary>
    public async Task HandshakeAsync(TestNode target, NetworkMembership membership)
    {
        var nonce = RandomNumberGenerator.GetBytes(Hello.NonceSize);
        await SendAsync(FrameCodec.Encode(new Hello(1, membership.Network, nonce, "raw", 0)));
        var hello = await ReadFrameAsync() as Hello ?? throw new InvalidOperationException("expected the node's hello");
        var proof = membership.ComputeProof(isClient: true, nonce, hello.Nonce, Identity.DeviceId, target.Node.DeviceId);
        await SendAsync(FrameCodec.Encode(new Auth(proof)));
    }

    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        await _tls.WriteAsync(bytes);
        await _tls.FlushAsync();
    }

    /// <summary>Ends our side of the stream, as a peer that dies mid-frame would.</summary>
    public async Task CloseWriteAsync()
    {
        await _tls.ShutdownAsync();
        _client.Client.Shutdown(SocketShutdown.Send);
    }

    /// <summary>Every frame the node sends until it closes the connection (or the timeout, a safety net).</summary>
    public async Task<IReadOnlyList<Message>> ReadUntilClosedAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        var messages = new List<Message>();
        try
        {
            while (await ReadFrameAsync(cancel.Token) is { } message) messages.Add(message);
        }
        catch (IOException)
        {
            // A reset is also a close.
        }

        return messages;
    }

    public async Task<Message?> ReadFrameAsync(CancellationToken cancellationToken = default)
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var sequence = new ReadOnlySequence<byte>(_received.ToArray());
            var status = FrameCodec.TryReadFrame(ref sequence, out var message, out var error);
            if (status == FrameStatus.Ok)
            {
                _received.RemoveRange(0, _received.Count - (int)sequence.Length);
                return message;
            }

            if (status == FrameStatus.Invalid) throw new InvalidDataException(error);
            var read = await _tls.ReadAsync(buffer, cancellationToken);
            if (read == 0) return null;
            _received.AddRange(buffer.AsSpan(0, read));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _tls.DisposeAsync();
        _client.Dispose();
        Identity.Dispose();
        _directory.Dispose();
    }
}
