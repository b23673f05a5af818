using Shoal.Core;
using Shoal.Node.Content;
using Shoal.Storage;

namespace Shoal.Node.Replication;

/// <summary>The chunks of a put file that this node's store holds, served and announced like a partial download.</summary>
internal sealed class StoredFile(Manifest manifest, string name, ChunkStore store) : IPartialSource
{
    public Manifest Manifest { get; } = manifest;

    public string Name { get; } = name;

    public Bitfield VerifiedSnapshot()
    {
        var held = new Bitfield(Manifest.ChunkCount);
        for (var i = 0; i < Manifest.ChunkCount; i++)
        {
            if (store.Has(Manifest[i].Hash)) held.Set(i);
        }

        return held;
    }

    public bool IsVerified(int index) => store.Has(Manifest[index].Hash);

    public async ValueTask ReadChunkAsync(int index, Memory<byte> destination, CancellationToken cancellationToken) =>
        await store.ReadAsync(Manifest[index].Hash, destination, cancellationToken).ConfigureAwait(false);
}
