using System.Buffers;
using System.Numerics;
using Shoal.Net.Tracking;

namespace Shoal.Tracker.Storage;

/// <summary>One live device's entry for a file, as stored.</summary>
/// <param name="Chunks">Null: every chunk.</param>
internal readonly record struct HoldingRow(string Name, long Size, int ChunkCount, byte[]? Chunks);

internal static class FileSummary
{
    /// <summary>
    /// The file as its live holders describe it. <paramref name="holdings"/> come most recently updated first, and
    /// that one's name, size and chunk count stand for the file. Holders that disagree about the chunk count (the id
    /// fixes it, so only a misbehaving member can) count as holders of no chunk in particular.
    /// </summary>
    public static TrackedFile Summarize(string file, IReadOnlyList<HoldingRow> holdings)
    {
        var first = holdings[0];
        return new TrackedFile(file, first.Name, first.Size, first.ChunkCount, holdings.Count, Replicas(first.ChunkCount, holdings));
    }

    /// <summary>The fewest holders of any one chunk.</summary>
    public static int Replicas(int chunkCount, IReadOnlyList<HoldingRow> holdings)
    {
        var complete = 0;
        var partial = 0;
        foreach (var holding in holdings)
        {
            if (holding.ChunkCount != chunkCount) continue;
            if (holding.Chunks is null) complete++;
            else partial++;
        }

        if (partial == 0 || chunkCount == 0) return complete;
        var counts = ArrayPool<int>.Shared.Rent(chunkCount);
        try
        {
            var span = counts.AsSpan(0, chunkCount);
            span.Clear();
            foreach (var holding in holdings)
            {
                if (holding.ChunkCount != chunkCount || holding.Chunks is not { } bits) continue;
                for (var i = 0; i < bits.Length; i++)
                {
                    // Bit 7 of byte i is chunk 8i, as in Bitfield; only set bits cost anything.
                    for (uint b = bits[i]; b != 0; b &= b - 1)
                    {
                        span[(i * 8) + 7 - BitOperations.TrailingZeroCount(b)]++;
                    }
                }
            }

            var fewest = int.MaxValue;
            foreach (var count in span) fewest = Math.Min(fewest, count);
            return complete + fewest;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(counts);
        }
    }
}
