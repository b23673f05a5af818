using Shoal.Core;
using Shoal.Net.Connections;
using Shoal.Node.Content;
using Shoal.Swarm;

namespace Shoal.Node.Transfers;

/// <summary>
/// What this node already has of a file (a complete copy, or the chunks its store keeps), offered to the swarm like
/// any peer: those chunks are copied locally, and every chunk is still verified before it is written.
/// </summary>
internal sealed class LocalCopyPeer(DeviceId self, Func<int, Memory<byte>, CancellationToken, ValueTask> read) : ISwarmPeer
{
    public DeviceId Id => self;

    public string Name => "local copy";

    public async Task<IChunkBuffer> RequestChunkAsync(FileId file, int chunkIndex, int expectedLength, CancellationToken cancellationToken)
    {
        var buffer = new PooledChunk(expectedLength);
        try
        {
            await read(chunkIndex, buffer.Writable, cancellationToken).ConfigureAwait(false);
            return buffer;
        }
        catch (Exception e) when (e is ChunkServeException or IOException)
        {
            buffer.Dispose();
            throw new ChunkUnavailableException($"the local copy cannot supply chunk {chunkIndex}: {e.Message}");
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>A local file that no longer matches its hashes changed on disk; the library re-indexes it on read.</summary>
    public void ReportBadData(FileId file, int chunkIndex)
    {
    }

    private sealed class PooledChunk(int length) : IChunkBuffer
    {
        private byte[]? _array = ChunkBufferPool.Shared.Rent(length);

        public Memory<byte> Writable => _array.AsMemory(0, length);

        public ReadOnlyMemory<byte> Memory => _array.AsMemory(0, length);

        public void Dispose()
        {
            var array = Interlocked.Exchange(ref _array, null);
            if (array is not null) ChunkBufferPool.Shared.Return(array);
        }
    }
}
