using Shoal.Core;
using Shoal.Protocol;

namespace Shoal.Net.Connections;

/// <summary>What a connection needs from its node: content to serve and somewhere to report what the peer says.</summary>
public interface IPeerServices
{
    ValueTask<Manifest?> FindManifestAsync(FileId file, CancellationToken cancellationToken);

    /// <summary>Fills <paramref name="destination"/> (exactly the chunk's length). Throws <see cref="ChunkServeException"/>.</summary>
    ValueTask ReadChunkAsync(FileId file, int chunkIndex, Memory<byte> destination, CancellationToken cancellationToken);

    /// <summary>Waits until the upload rate limit allows <paramref name="bytes"/> more.</summary>
    ValueTask AcquireUploadAsync(int bytes, CancellationToken cancellationToken);

    /// <summary>
    /// Waits for one of the node's buffers for a chunk being served, read or queued to send: a bound across all of its
    /// connections, so that memory does not grow with the number of peers downloading at once. Given back with
    /// <see cref="ReleaseSendBuffer"/>. Unbounded unless the node says otherwise.
    /// </summary>
    ValueTask AcquireSendBufferAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    void ReleaseSendBuffer()
    {
    }

    /// <summary>
    /// Asked before a requested chunk is read and sent: null to answer <see cref="ErrorCode.Busy"/> instead (the peer
    /// should get it from others that have it, or ask again later), else a lease the connection disposes once the
    /// chunk's frame has been written to the network or the serve ended without it. Admits everything unless the
    /// node says otherwise.
    /// </summary>
    IDisposable? AdmitChunkServe(PeerConnection connection, FileId file, int chunkIndex) => AdmitAll.Lease;

    void OnInventory(PeerConnection connection, Inventory inventory);

    void OnHave(PeerConnection connection, Have have);

    void OnRemoved(PeerConnection connection, Removed removed);

    void OnRevoked(PeerConnection connection, Revoked revoked);

    /// <summary>The peer asks for this node's folder index from a point on. A node without a synced folder ignores it.</summary>
    void OnIndexRequest(PeerConnection connection, IndexRequest request)
    {
    }

    /// <summary>Records of the peer's folder index; awaited by the connection's reader, which pauses meanwhile.</summary>
    ValueTask OnIndexUpdateAsync(PeerConnection connection, IndexUpdate update, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>A peer asks this node to keep a chunk of a file stored into the network.</summary>
    ValueTask<StoreOutcome> StoreChunkAsync(PeerConnection connection, StoreChunk request, CancellationToken cancellationToken) =>
        ValueTask.FromResult(StoreOutcome.UnknownFile);

    void OnPutRecords(PeerConnection connection, PutRecords records)
    {
    }

    void OnStoreStatus(PeerConnection connection, StoreStatus status)
    {
    }

    void OnStoredChunks(PeerConnection connection, StoredChunks stored)
    {
    }

    void OnClosed(PeerConnection connection, string reason);
}

/// <summary>The lease of a chunk serve that nothing orders: ending it does nothing.</summary>
public sealed class AdmitAll : IDisposable
{
    public static readonly AdmitAll Lease = new();

    private AdmitAll()
    {
    }

    public void Dispose()
    {
    }
}

public sealed class ChunkServeException(ErrorCode code, string message) : Exception(message)
{
    public ErrorCode Code { get; } = code;
}

/// <summary>The peer answered a request with an error frame.</summary>
public sealed class PeerErrorException(ErrorCode code, string message) : Exception(message)
{
    public ErrorCode Code { get; } = code;
}

/// <summary>The connection ended (closed by either side, or broken) while a request was outstanding.</summary>
public sealed class ConnectionClosedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The remote end refused us or broke the handshake.</summary>
public sealed class HandshakeException(CloseReason reason, string message) : Exception(message)
{
    public CloseReason Reason { get; } = reason;

    /// <summary>For <see cref="CloseReason.Busy"/>: when the peer asked to be dialled again.</summary>
    public TimeSpan RetryAfter { get; init; }
}
