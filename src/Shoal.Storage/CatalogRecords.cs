using Shoal.Core;

namespace Shoal.Storage;

public enum LocalFileKind
{
    Shared = 0,
    Downloaded = 1,
}

/// <summary>A file this node serves from where it is. <see cref="LastWriteUtc"/> and <see cref="Size"/> detect edits.</summary>
public sealed record LocalFile(
    FileId Id,
    string Name,
    long Size,
    Manifest Manifest,
    string Path,
    DateTime LastWriteUtc,
    LocalFileKind Kind,
    DateTimeOffset AddedAt);

public enum DownloadStatus
{
    Active = 0,
    Paused = 1,
    Completed = 2,
    Failed = 3,
}

public sealed record DownloadRecord(
    FileId Id,
    string Name,
    long Size,
    string TargetDirectory,
    string PartialPath,
    DownloadStatus Status,
    DateTimeOffset CreatedAt,
    string? FinalPath,
    string? Error);

/// <summary>What a peer said it has of a file. <see cref="Chunks"/> is null when the peer has all of it.</summary>
public sealed record PeerFileRecord(DeviceId Peer, FileId File, string Name, long Size, int ChunkCount, Bitfield? Chunks)
{
    public bool HasChunk(int index) => Chunks is null ? (uint)index < (uint)ChunkCount : Chunks[index];
}

public sealed record PeerRecord(DeviceId Id, string Name, IReadOnlyList<string> Addresses, DateTimeOffset LastSeen);

public enum FolderEventKind
{
    Added = 0,
    Modified = 1,
    Deleted = 2,
    Renamed = 3,
    Conflict = 4,
    Refused = 5,
}

/// <summary>Something that happened to a path of the synced folder, and which node did it.</summary>
public sealed record FolderEvent(DateTimeOffset Time, string Path, DeviceId Device, string DeviceName, FolderEventKind Kind, string Detail);

/// <summary>A file stored into the network with <see cref="Replicas"/> copies of each chunk, or its tombstone.</summary>
public sealed record PutFileRecord(
    FileId Id,
    string Name,
    long Size,
    int ChunkCount,
    int Replicas,
    long UpdatedTicks,
    DeviceId UpdatedBy,
    bool Deleted)
{
    /// <summary>Last writer wins, ties broken by device so every node picks the same record.</summary>
    public bool IsNewerThan(PutFileRecord other) =>
        UpdatedTicks != other.UpdatedTicks ? UpdatedTicks > other.UpdatedTicks : UpdatedBy.CompareTo(other.UpdatedBy) > 0;
}
