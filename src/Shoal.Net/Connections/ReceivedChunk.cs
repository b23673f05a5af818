using Shoal.Core;

namespace Shoal.Net.Connections;

/// <summary>A chunk's bytes in an array of <see cref="ChunkBufferPool.Shared"/>; disposing returns the array, so dispose exactly once.</summary>
public sealed class ReceivedChunk : IDisposable
{
    private byte[]? _array;

    internal ReceivedChunk(int length)
    {
        _array = ChunkBufferPool.Shared.Rent(length);
        Length = length;
    }

    public int Length { get; }

    public Memory<byte> Memory => _array is { } array
        ? array.AsMemory(0, Length)
        : throw new ObjectDisposedException(nameof(ReceivedChunk));

    public void Dispose()
    {
        var array = Interlocked.Exchange(ref _array, null);
        if (array is not null) ChunkBufferPool.Shared.Return(array);
    }
}
