using Microsoft.Win32.SafeHandles;

namespace Shoal.Storage;

internal static class ChunkIO
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
}
