using System.Collections.Concurrent;
using Shoal.Core;
using Shoal.Protocol;

namespace Shoal.Node.Content;

/// <summary>A file as one online peer announced it. <see cref="Chunks"/> null means the peer has all of it.</summary>
public sealed class RemoteFile(FileId id, string name, long size, int chunkCount, Bitfield? chunks)
{
    public FileId Id { get; } = id;

    public string Name { get; } = name;

    public long Size { get; } = size;

    public int ChunkCount { get; } = chunkCount;

    /// <summary>Guarded by lock(this); copy with <see cref="Snapshot"/> before using it elsewhere.</summary>
    public Bitfield? Chunks { get; private set; } = chunks;

    public Bitfield Snapshot()
    {
        lock (this)
        {
            return Chunks?.Clone() ?? Bitfield.Full(ChunkCount);
        }
    }

    /// <summary>How many of the file's chunks the peer holds.</summary>
    public int HeldCount
    {
        get
        {
            lock (this)
            {
                return Chunks?.SetCount ?? ChunkCount;
            }
        }
    }

    public bool Has(int index)
    {
        lock (this)
        {
            return Chunks is null || Chunks[index];
        }
    }

    internal void MarkHave(int index)
    {
        lock (this)
        {
            if (Chunks is null || index >= ChunkCount) return;
            Chunks.Set(index);
            if (Chunks.IsComplete) Chunks = null;
        }
    }
}

/// <summary>What every online peer says it holds, from its inventory and have messages. Dropped when the peer goes.</summary>
public sealed class Availability
{
    private readonly ConcurrentDictionary<DeviceId, ConcurrentDictionary<FileId, RemoteFile>> _byPeer = new();

    public void Apply(DeviceId peer, Inventory inventory)
    {
        var files = inventory.Reset
            ? _byPeer[peer] = new ConcurrentDictionary<FileId, RemoteFile>()
            : _byPeer.GetOrAdd(peer, _ => new ConcurrentDictionary<FileId, RemoteFile>());
        foreach (var entry in inventory.Entries)
        {
            files[entry.Id] = new RemoteFile(entry.Id, entry.Name, entry.Size, entry.ChunkCount, entry.Chunks);
        }
    }

    public RemoteFile? ApplyHave(DeviceId peer, Have have)
    {
        if (!_byPeer.TryGetValue(peer, out var files) || !files.TryGetValue(have.File, out var file)) return null;
        file.MarkHave(have.ChunkIndex);
        return file;
    }

    public void ApplyRemoved(DeviceId peer, FileId file)
    {
        if (_byPeer.TryGetValue(peer, out var files)) files.TryRemove(file, out _);
    }

    public void Drop(DeviceId peer) => _byPeer.TryRemove(peer, out _);

    public RemoteFile? Get(DeviceId peer, FileId file) =>
        _byPeer.TryGetValue(peer, out var files) && files.TryGetValue(file, out var remote) ? remote : null;

    public IReadOnlyList<(DeviceId Peer, RemoteFile File)> HoldersOf(FileId file) =>
        [.. _byPeer.SelectMany(p => p.Value.TryGetValue(file, out var remote) ? [(p.Key, remote)] : Array.Empty<(DeviceId, RemoteFile)>())];

    public IReadOnlyList<RemoteFile> AllFiles() =>
        [.. _byPeer.Values.SelectMany(files => files.Values).DistinctBy(f => f.Id)];
}
