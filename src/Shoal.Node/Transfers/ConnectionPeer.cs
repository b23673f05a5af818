using Shoal.Core;
using Shoal.Net.Connections;
using Shoal.Protocol;
using Shoal.Swarm;

namespace Shoal.Node.Transfers;

/// <summary>Presents a peer connection to the swarm engine, translating transport failures into its terms.</summary>
internal sealed class ConnectionPeer(PeerConnection connection, TokenBucket downloadLimit, Action<DeviceId, FileId, int> reportBadData, Action<string> reportError) : ISwarmPeer
{
    public DeviceId Id => connection.RemoteId;

    public string Name => connection.RemoteName;

    public PeerConnection Connection => connection;

    public async Task<IChunkBuffer> RequestChunkAsync(FileId file, int chunkIndex, int expectedLength, CancellationToken cancellationToken)
    {
        await downloadLimit.WaitAsync(expectedLength, cancellationToken).ConfigureAwait(false);
        try
        {
            return new Buffer(await connection.RequestChunkAsync(file, chunkIndex, cancellationToken).ConfigureAwait(false));
        }
        catch (PeerErrorException e) when (e.Code == ErrorCode.Busy)
        {
            // Not an error: the peer is sending this chunk to others, who will offer it too.
            throw new ChunkBusyException(e.Message);
        }
        catch (PeerErrorException e)
        {
            reportError($"{Name}: {e.Message}");
            throw new ChunkUnavailableException(e.Message);
        }
        catch (ConnectionClosedException e)
        {
            throw new PeerGoneException(e.Message, e);
        }
    }

    public void ReportBadData(FileId file, int chunkIndex) => reportBadData(Id, file, chunkIndex);

    private sealed class Buffer(ReceivedChunk chunk) : IChunkBuffer
    {
        public ReadOnlyMemory<byte> Memory => chunk.Memory;

        public void Dispose() => chunk.Dispose();
    }
}
