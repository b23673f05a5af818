namespace Shoal.Core;

/// <summary>Where a download puts chunks that have already been verified against the manifest.</summary>
public interface IChunkSink
{
    /// <summary>Chunks already verified and stored (a resumed download starts from these). A snapshot.</summary>
    Bitfield Verified { get; }

    /// <summary>Writes the chunk at its manifest offset and durably records it as verified.</summary>
    ValueTask WriteVerifiedChunkAsync(int index, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);
}
