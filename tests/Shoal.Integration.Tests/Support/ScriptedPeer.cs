using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Core;
using Shoal.Net;
using Shoal.Net.Connections;
using Shoal.Protocol;

namespace Shoal.Integration.Tests.Support;

/// <summary>
/// A peer built from the real protocol stack (TLS, membership proof, framing) whose content behaviour the test
/// scripts: it can hold only some chunks, or lie about their bytes.
/// </summary>
public sealed class ScriptedPeer : IPeerServices, IAsyncDisposable
{
    private readonly TempDirectory _directory = new("shoal-peer");
    private readonly string? _path;
    private readonly Manifest? _manifest;
    private readonly Bitfield? _have;
    private readonly bool _corrupt;
    private readonly FileId? _offeredAs;
    private readonly TaskCompletionSource<string> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _storesReleased = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _chunksServed;
    private int _storesWaiting;

    private ScriptedPeer(string? path, Manifest? manifest, Bitfield? have, bool corrupt, FileId? offeredAs)
    {
        _path = path;
        _manifest = manifest;
        _have = have;
        _corrupt = corrupt;
        _offeredAs = offeredAs;
        Identity = NodeIdentity.LoadOrCreate(_directory.Path);
    }

    public NodeIdentity Identity { get; }

    public PeerConnection Connection { get; private set; } = null!;

    public int ChunksServed => _chunksServed;

    /// <summary>Chunks a node asked this peer to store that wait for <see cref="ReleaseStores"/>.</summary>
    public int StoresWaiting => Volatile.Read(ref _storesWaiting);

    /// <summary>Why the other side closed the link.</summary>
    public Task<string> Closed => _closed.Task;

    /// <param name="offeredAs">Offers the file under this id instead of its own, and answers for it with the file's manifest.</param>
    public static async Task<ScriptedPeer> ConnectAsync(
        TestNode target, NetworkMembership membership, string name, string? path = null, Manifest? manifest = null, Bitfield? have = null, bool corrupt = false,
        FileId? offeredAs = null)
    {
        var peer = new ScriptedPeer(path, manifest, have, corrupt, offeredAs);
        var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync("127.0.0.1", target.Node.ListenEndPoint.Port);
        var tls = await TlsChannel.AuthenticateAsClientAsync(client.GetStream(), peer.Identity, CancellationToken.None);
        peer.Connection = await PeerConnection.EstablishAsync(
            tls, isClient: true, TlsChannel.RemoteDeviceId(tls), client.Client.RemoteEndPoint, LinkKind.Direct,
            new LocalHello(peer.Identity.DeviceId, membership, name, 0), peer, NullLogger.Instance, TimeProvider.System, CancellationToken.None);
        peer.Connection.Start();
        if (manifest is not null)
        {
            var entry = new InventoryEntry(offeredAs ?? manifest.Id, Path.GetFileName(path!), manifest.Size, manifest.ChunkCount, have is { IsComplete: false } ? have : null);
            peer.Connection.Send(new Inventory(Reset: true, [entry]));
        }

        return peer;
    }

    public ValueTask<Manifest?> FindManifestAsync(FileId file, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_manifest is not null && (_offeredAs ?? _manifest.Id) == file ? _manifest : null);

    public async ValueTask ReadChunkAsync(FileId file, int chunkIndex, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (_have is not null && !_have[chunkIndex]) throw new ChunkServeException(ErrorCode.ChunkUnavailable, "not held");
        using var handle = File.OpenHandle(_path!);
        await RandomAccess.ReadAsync(handle, destination, _manifest![chunkIndex].Offset, cancellationToken);
        if (_corrupt) destination.Span[destination.Length / 2] ^= 0x5A;
        Interlocked.Increment(ref _chunksServed);
    }

    public ValueTask AcquireUploadAsync(int bytes, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public void OnInventory(PeerConnection connection, Inventory inventory)
    {
    }

    public void OnHave(PeerConnection connection, Have have)
    {
    }

    public void OnRemoved(PeerConnection connection, Removed removed)
    {
    }

    public void OnRevoked(PeerConnection connection, Revoked revoked)
    {
    }

    public void OnClosed(PeerConnection connection, string reason) => _closed.TrySetResult(reason);

    /// <summary>Offers room for chunks, so the node places put chunks here; they are kept only once released.</summary>
    public void OfferStore(long quota) => Connection.Send(new StoreStatus(quota, 0));

    public void ReleaseStores() => _storesReleased.TrySetResult();

    public async ValueTask<StoreOutcome> StoreChunkAsync(PeerConnection connection, StoreChunk request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _storesWaiting);
        await _storesReleased.Task.WaitAsync(cancellationToken);
        Interlocked.Decrement(ref _storesWaiting);
        return StoreOutcome.Stored;
    }

    public async ValueTask DisposeAsync()
    {
        if (Connection is not null) await Connection.DisposeAsync();
        Identity.Dispose();
        _directory.Dispose();
    }
}
