using Shoal.Core;

namespace Shoal.Swarm;

/// <summary>A pooled buffer holding one received chunk; dispose returns it.</summary>
public interface IChunkBuffer : IDisposable
{
    ReadOnlyMemory<byte> Memory { get; }
}

/// <summary>A connected peer as the download engine sees it: something that can hand over a chunk.</summary>
public interface ISwarmPeer
{
    DeviceId Id { get; }

    string Name { get; }

    /// <summary>
    /// Fetches one whole chunk. Throws <see cref="ChunkUnavailableException"/> if the peer cannot serve it,
    /// <see cref="ChunkBusyException"/> if it holds it but asks to be spared it for now,
    /// <see cref="PeerGoneException"/> if the connection is lost, and <see cref="OperationCanceledException"/> when
    /// cancelled (the peer is told to drop the request).
    /// </summary>
    Task<IChunkBuffer> RequestChunkAsync(FileId file, int chunkIndex, int expectedLength, CancellationToken cancellationToken);

    /// <summary>The peer sent data that does not match the manifest: a strike against it.</summary>
    void ReportBadData(FileId file, int chunkIndex);
}

public sealed class ChunkUnavailableException(string message) : Exception(message);

/// <summary>
/// The peer holds the chunk but is busy sending it to others (who will pass it on) while chunks nobody has yet are
/// waiting for its upload: get it elsewhere, or ask again later.
/// </summary>
public sealed class ChunkBusyException(string message) : Exception(message);

public sealed class PeerGoneException(string message, Exception? inner = null) : Exception(message, inner);
