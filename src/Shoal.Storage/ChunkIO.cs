using System.Collections.Concurrent;
using Microsoft.Win32.SafeHandles;
using Shoal.Core;

namespace Shoal.Storage;

public static class ChunkIO
{
    /// <summary>Reads until <paramref name="destination"/> is full or the file ends; returns how much was read.</summary>
    public static async ValueTask<int> ReadFullyAsync(
        SafeFileHandle handle, Memory<byte> destination, long offset, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < destination.Length)
        {
            var read = await RandomAccess.ReadAsync(handle, destination[total..], offset + total, cancellationToken)
                .ConfigureAwait(false);
            if (read == 0) break;
            total += read;
        }

        return total;
    }

    /// <summary>Which of <paramref name="indices"/> do not hold their chunk on disk (short, or the wrong hash); hashed in parallel.</summary>
    public static async Task<List<int>> FindDamagedChunksAsync(
        SafeFileHandle handle, Manifest manifest, IEnumerable<int> indices, CancellationToken cancellationToken)
    {
        var damaged = new ConcurrentBag<int>();
        var options = new ParallelOptions
        {
            MaxDegreeOfParallelism = Environment.ProcessorCount,
            CancellationToken = cancellationToken,
        };
        await Parallel.ForEachAsync(indices, options, async (index, token) =>
        {
            var chunk = manifest[index];
            var buffer = ChunkBufferPool.Shared.Rent(chunk.Length);
            try
            {
                var data = buffer.AsMemory(0, chunk.Length);
                var read = await ReadFullyAsync(handle, data, chunk.Offset, token).ConfigureAwait(false);
                if (read != chunk.Length || Hash256.Compute(data.Span) != chunk.Hash) damaged.Add(index);
            }
            finally
            {
                ChunkBufferPool.Shared.Return(buffer);
            }
        }).ConfigureAwait(false);

        return [.. damaged.Order()];
    }
}
