using Shoal.Core;
using Shoal.Core.Folder;

namespace Shoal.Protocol;

public enum MessageType : byte
{
    Hello = 0x01,
    Auth = 0x02,
    Close = 0x03,
    Ping = 0x04,
    Pong = 0x05,
    Inventory = 0x10,
    Have = 0x11,
    Removed = 0x12,
    Revoked = 0x13,
    ManifestRequest = 0x20,
    ManifestResponse = 0x21,
    ChunkRequest = 0x22,
    ChunkResponse = 0x23,
    ErrorResponse = 0x24,
    Cancel = 0x25,
    IndexRequest = 0x30,
    IndexUpdate = 0x31,
    StoreChunk = 0x40,
    StoreResult = 0x41,
    PutRecords = 0x42,
    StoreStatus = 0x43,
    StoredChunks = 0x44,
}

public enum CloseReason : ushort
{
    Normal = 0,
    ProtocolError = 1,
    NotAMember = 2,
    Banned = 3,
    IncompatibleVersion = 4,
    Duplicate = 5,
    ShuttingDown = 6,
    Timeout = 7,
    Revoked = 8,

    /// <summary>The node has as many peers as it takes: not an error; dial again after <see cref="Close.RetryAfterSeconds"/>.</summary>
    Busy = 9,
}

public enum ErrorCode : ushort
{
    NotFound = 1,
    ChunkUnavailable = 2,
    FileChanged = 3,
    Busy = 4,
    Internal = 5,
}

/// <summary>What became of a <see cref="StoreChunk"/>.</summary>
public enum StoreOutcome : byte
{
    Stored = 0,
    Full = 1,
    UnknownFile = 2,
    HashMismatch = 3,
    Deleted = 4,
}

public abstract record Message
{
    public abstract MessageType Type { get; }
}

/// <summary>First frame each way inside TLS. The nonce makes the membership proof unique to this session.</summary>
/// <param name="ObservedAddress">
/// Where the sender sees this connection's other end (host:port): behind a NAT, the receiver's public address as its
/// peers see it. Empty where the sender cannot see it (a relayed link); left out of the frame when empty.
/// </param>
public sealed record Hello(ushort ProtocolVersion, NetworkId Network, byte[] Nonce, string Name, ushort ListenPort, string ObservedAddress = "") : Message
{
    public const int NonceSize = 32;
    public const int MaxNameBytes = 128;
    public const int MaxObservedAddressBytes = 64;

    public override MessageType Type => MessageType.Hello;
}

/// <summary>HMAC proving knowledge of the network secret, bound to both certificates and both nonces.</summary>
public sealed record Auth(byte[] Proof) : Message
{
    public const int ProofSize = 32;

    public override MessageType Type => MessageType.Auth;
}

/// <param name="RetryAfterSeconds">Only with <see cref="CloseReason.Busy"/> (and only then on the wire): when to dial again.</param>
public sealed record Close(CloseReason Reason, string Text, ushort RetryAfterSeconds = 0) : Message
{
    public const int MaxTextBytes = 1024;

    public override MessageType Type => MessageType.Close;
}

public sealed record Ping(ulong Payload) : Message
{
    public override MessageType Type => MessageType.Ping;
}

public sealed record Pong(ulong Payload) : Message
{
    public override MessageType Type => MessageType.Pong;
}

/// <summary>A file the sender can serve. <see cref="Chunks"/> is null when it has all of them.</summary>
public sealed record InventoryEntry(FileId Id, string Name, long Size, int ChunkCount, Bitfield? Chunks)
{
    public const int MaxNameBytes = SafeFileName.MaxLength;

    public bool IsComplete => Chunks is null;
}

/// <summary>What the sender serves. <see cref="Reset"/> replaces everything it said before (sent first on connect).</summary>
public sealed record Inventory(bool Reset, IReadOnlyList<InventoryEntry> Entries) : Message
{
    public const int MaxEntries = 4096;

    public override MessageType Type => MessageType.Inventory;
}

public sealed record Have(FileId File, int ChunkIndex) : Message
{
    public override MessageType Type => MessageType.Have;
}

public sealed record Removed(FileId File) : Message
{
    public override MessageType Type => MessageType.Removed;
}

/// <summary>Devices removed from the network. Sent whole on connect and again on every change; members refuse them.</summary>
public sealed record Revoked(IReadOnlyList<DeviceId> Devices) : Message
{
    public const int MaxDevices = 4096;

    public override MessageType Type => MessageType.Revoked;
}

public sealed record ManifestRequest(uint RequestId, FileId File, int FirstChunk) : Message
{
    public override MessageType Type => MessageType.ManifestRequest;
}

/// <summary>One page of a manifest: entries from <see cref="FirstChunk"/>; a long manifest takes several requests.</summary>
public sealed record ManifestResponse(uint RequestId, long FileSize, int TotalChunks, int FirstChunk, IReadOnlyList<(int Length, Hash256 Hash)> Entries) : Message
{
    public const int MaxEntriesPerPage = 65536;

    public override MessageType Type => MessageType.ManifestResponse;
}

public sealed record ChunkRequest(uint RequestId, FileId File, int ChunkIndex) : Message
{
    public override MessageType Type => MessageType.ChunkRequest;
}

/// <summary>
/// Only used for small payloads and tests; the data path writes and reads chunk responses without building this
/// (see <see cref="FrameCodec.WriteChunkResponseHeader"/>).
/// </summary>
public sealed record ChunkResponse(uint RequestId, ReadOnlyMemory<byte> Data) : Message
{
    public override MessageType Type => MessageType.ChunkResponse;
}

public sealed record ErrorResponse(uint RequestId, ErrorCode Code, string Text) : Message
{
    public const int MaxTextBytes = 1024;

    public override MessageType Type => MessageType.ErrorResponse;
}

public sealed record Cancel(uint RequestId) : Message
{
    public override MessageType Type => MessageType.Cancel;
}

/// <summary>
/// Sent by each side on connect: "I hold your index of this folder up to <see cref="KnownSequence"/> of epoch
/// <see cref="KnownEpoch"/>; send me what is newer". <see cref="KnownEpoch"/> 0 means I hold nothing of yours.
/// </summary>
public sealed record IndexRequest(string Folder, ulong KnownEpoch, long KnownSequence) : Message
{
    public const int MaxFolderBytes = 64;

    public override MessageType Type => MessageType.IndexRequest;
}

/// <summary>
/// Records of the sender's own index for a folder, in sequence order. <see cref="Reset"/>: forget everything you
/// hold of my index for this folder first (sent when the epoch the receiver asked with is not the sender's current one).
/// <see cref="Epoch"/> is never 0, which a request uses to say it holds nothing.
/// </summary>
public sealed record IndexUpdate(string Folder, ulong Epoch, bool Reset, IReadOnlyList<FileRecord> Records) : Message
{
    public const int MaxFolderBytes = IndexRequest.MaxFolderBytes;
    public const int MaxRecords = 4096;
    public const int MaxPathBytes = 4096;

    /// <summary>A record's manifest travels inline only up to this many chunks; a longer one is fetched with <see cref="ManifestRequest"/>.</summary>
    public const int MaxInlineChunks = 1024;

    /// <summary>Unix permission bits: anything above is not a mode a peer may ask us to apply.</summary>
    public const uint MaxPermissions = 0x0FFF;

    public override MessageType Type => MessageType.IndexUpdate;
}

/// <summary>"Keep chunk <see cref="ChunkIndex"/> of put file <see cref="File"/>": a replica holder is handed the bytes it is to store.</summary>
public sealed record StoreChunk(uint RequestId, FileId File, int ChunkIndex, ReadOnlyMemory<byte> Data) : Message
{
    public override MessageType Type => MessageType.StoreChunk;
}

/// <summary>The answer to the <see cref="StoreChunk"/> with the same request id, so the putter knows whether the replica counts.</summary>
public sealed record StoreResult(uint RequestId, StoreOutcome Outcome) : Message
{
    public override MessageType Type => MessageType.StoreResult;
}

/// <summary>One put file as its owner last described it; <see cref="Deleted"/> tells holders to drop their replicas.</summary>
public sealed record PutRecord(FileId File, string Name, long Size, int ChunkCount, int Replicas, long UpdatedTicks, DeviceId UpdatedBy, bool Deleted)
{
    public const int MaxNameBytes = SafeFileName.MaxLength;

    /// <summary>Replicas travel as one byte, and a file kept nowhere is not put.</summary>
    public const int MaxReplicas = byte.MaxValue;
}

/// <summary>Put files the sender knows of, so every member learns what is stored in the network and with how many replicas.</summary>
public sealed record PutRecords(IReadOnlyList<PutRecord> Records) : Message
{
    public const int MaxRecords = 1024;

    public override MessageType Type => MessageType.PutRecords;
}

/// <summary>How much the sender offers to store for others and how much of it is taken, so putters pick holders with room.</summary>
public sealed record StoreStatus(long QuotaBytes, long UsedBytes) : Message
{
    public override MessageType Type => MessageType.StoreStatus;
}

/// <summary>
/// Which chunks of put file <see cref="File"/> this node's chunk store keeps, sent on connect and whenever it changes;
/// replication counts these, not downloaded copies. <see cref="Chunks"/> has one bit per chunk of the file.
/// </summary>
public sealed record StoredChunks(FileId File, Bitfield Chunks) : Message
{
    public override MessageType Type => MessageType.StoredChunks;
}
