using System.Text.Json;
using System.Text.Json.Serialization;

namespace Shoal.Node.Api;

public sealed record RuntimeInfo(string Url, string Token, int Pid);

public sealed record StatusDto(
    string Id, string Name, string Network, IReadOnlyList<string> Listen, IReadOnlyList<string> Addresses, string Api, int PeersOnline, int PeersKnown,
    int ActiveTransfers, long UploadedBytes, long DownloadedBytes, string Version, string Home, FolderDto Folder, IReadOnlyList<TrackerDto> Trackers,
    long BusyRefusals = 0, IReadOnlyList<string>? SeenAs = null);

/// <summary>
/// One tracker this node uses: whether its last announce went through, and how many members it told of; whether it
/// could connect back to this node, and where it sees this node's listen port (behind a NAT: the public address).
/// </summary>
public sealed record TrackerDto(string Url, bool Online, DateTimeOffset? LastAnnounce, string? Error, int Peers, bool? Reachable = null, string? PublicAddress = null);

/// <summary>The synced folder: <see cref="State"/> is idle, scanning, syncing or error; <see cref="NeedFiles"/> paths still to pull.</summary>
public sealed record FolderDto(
    string Path, string State, int NeedFiles, int Files, long Bytes, int Directories, int Conflicts, DateTimeOffset? LastScan, string? Problem,
    IReadOnlyList<FolderEventDto> Events);

/// <summary>One change in the folder: what (<see cref="Kind"/>: added, modified, deleted, renamed, conflict, refused), which node, when.</summary>
public sealed record FolderEventDto(DateTimeOffset Time, string Path, string Kind, string Device, string DeviceName, string Detail);

public sealed record ScanDto(int Changes, int FilesHashed, long BytesHashed, int Skipped);

/// <param name="Link">How an online peer is connected: direct, punched (a hole through both NATs) or relayed.</param>
public sealed record PeerDto(string Id, string Name, bool Online, IReadOnlyList<string> Addresses, DateTimeOffset? LastSeen, double? RttMs, string? Direction, long UploadedBytes, long DownloadedBytes, double UploadRate, double DownloadRate, bool Revoked, string? Link = null);

public sealed record RevokeRequest(string Device);

/// <summary>Bytes per second; 0 is unlimited. In a request, a missing value leaves that limit as it is.</summary>
public sealed record LimitsDto(long? Upload, long? Download);

public sealed record FileDto(string Link, string Id, string Name, long Size, int Replicas, string Local, int Sources);

public sealed record SharedFileDto(string Link, string Id, string Name, long Size, string Path);

/// <summary>A share where some files could not be read: those are skipped, the rest are shared all the same.</summary>
public sealed record ShareErrorDto(string Error, IReadOnlyList<SharedFileDto> Shared, IReadOnlyList<SkippedFileDto> Skipped);

public sealed record SkippedFileDto(string Path, string Error);

public sealed record TransferPeerDto(string Id, string Name, long Bytes, double BytesPerSecond);

public sealed record TransferDto(
    string Id, string Link, string Name, long Size, string State, long VerifiedBytes, int VerifiedChunks, int TotalChunks,
    double BytesPerSecond, double? EtaSeconds, int Sources, long ReceivedBytes, string? Error, string? Path, string TargetDirectory,
    IReadOnlyList<TransferPeerDto> Peers);

public sealed record TraceEntryDto(string Peer, int Chunk);

public sealed record ShareRequest(IReadOnlyList<string> Paths);

public sealed record PutRequest(IReadOnlyList<string> Paths, int? Replicas);

/// <summary>A put under way: bytes of the file whose chunks are placed so far.</summary>
public sealed record PutProgressDto(string Id, string Name, long Size, long PlacedBytes, long BytesPerSecond);

/// <summary>A put file: <c>Copies</c> is the fewest nodes holding any one of its chunks, <c>Replicas</c> what was asked.</summary>
/// <param name="NoRoom">Nodes that refused chunks for want of room (their disk or store quota is full).</param>
public sealed record PutFileDto(string Link, string Id, string Name, long Size, int Copies, int Replicas, int ReachableNodes, IReadOnlyList<string> NoRoom);

/// <summary>
/// How safe one put file is: <see cref="Copies"/> is the fewest online nodes whose stores keep any one of its chunks
/// (this node's included), <see cref="Replicas"/> how many were asked for.
/// </summary>
public sealed record PutHealthDto(string Id, string Name, long Size, int Replicas, int Copies);

public sealed record GetRequest(string Link, string? Directory);

public sealed record ErrorDto(string Error);

public sealed record LoginRequest(string? Password);

public sealed record LoginDto(string Token);

/// <summary>A link that downloads one file in a browser, which cannot send the token: it carries a ticket until <c>Expires</c>.</summary>
public sealed record TicketDto(string Url, DateTimeOffset Expires);

public sealed record InviteDto(string Code);

/// <summary>A file received from the browser, then shared (served from HOME/uploads) or put into the network.</summary>
public sealed record UploadDto(string Link, string Id, string Name, long Size, string Mode, string Path, int? Copies, int? Replicas);

public sealed record SettingsDto(
    string Name, string Folder, string Downloads, long UploadLimit, long DownloadLimit, string Api, string Listen,
    IReadOnlyList<string> Peers, IReadOnlyList<string> Trackers, bool PasswordSet);

/// <summary>Settings to change; a missing value stays as it is. Limits are bytes per second, 0 is unlimited.</summary>
public sealed record SettingsRequest(string? Name, string? Folder, string? Downloads, long? UploadLimit, long? DownloadLimit);

/// <summary>The settings now, and which of the changes take effect only when the node starts again.</summary>
public sealed record SettingsChangeDto(SettingsDto Settings, IReadOnlyList<string> RestartRequired);

/// <summary>One setting of config.json as text (see <c>ConfigKeys</c>); a running node uses a new value at once when <c>AppliesAtOnce</c>.</summary>
public sealed record ConfigEntryDto(string Key, string Value, bool AppliesAtOnce);

public sealed record ConfigValueRequest(string Value);

/// <summary>A setting after a change: <c>RestartRequired</c> when the node uses the new value only from its next start.</summary>
public sealed record ConfigChangeDto(string Key, string Value, bool Changed, bool RestartRequired);

/// <summary>One share or put whose files are being hashed: file <c>File</c> of <c>Files</c>, bytes hashed of all of them.</summary>
public sealed record IndexingDto(string Kind, IReadOnlyList<string> Paths, string Current, int File, int Files, long BytesDone, long Bytes, long BytesPerSecond);

/// <summary>The network's file list changed (what peers and trackers offer, what this node holds).</summary>
public sealed record FilesChangedDto(long Version);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = false, UseStringEnumConverter = true)]
[JsonSerializable(typeof(RuntimeInfo))]
[JsonSerializable(typeof(StatusDto))]
[JsonSerializable(typeof(FolderDto))]
[JsonSerializable(typeof(ScanDto))]
[JsonSerializable(typeof(IReadOnlyList<PeerDto>))]
[JsonSerializable(typeof(IReadOnlyList<FileDto>))]
[JsonSerializable(typeof(IReadOnlyList<SharedFileDto>))]
[JsonSerializable(typeof(TransferDto))]
[JsonSerializable(typeof(IReadOnlyList<TransferDto>))]
[JsonSerializable(typeof(IReadOnlyList<TraceEntryDto>))]
[JsonSerializable(typeof(ShareRequest))]
[JsonSerializable(typeof(PutRequest))]
[JsonSerializable(typeof(IReadOnlyList<PutProgressDto>))]
[JsonSerializable(typeof(IReadOnlyList<PutFileDto>))]
[JsonSerializable(typeof(IReadOnlyList<PutHealthDto>))]
[JsonSerializable(typeof(GetRequest))]
[JsonSerializable(typeof(ErrorDto))]
[JsonSerializable(typeof(ShareErrorDto))]
[JsonSerializable(typeof(RevokeRequest))]
[JsonSerializable(typeof(LimitsDto))]
[JsonSerializable(typeof(LoginRequest))]
[JsonSerializable(typeof(LoginDto))]
[JsonSerializable(typeof(TicketDto))]
[JsonSerializable(typeof(InviteDto))]
[JsonSerializable(typeof(UploadDto))]
[JsonSerializable(typeof(SettingsDto))]
[JsonSerializable(typeof(SettingsRequest))]
[JsonSerializable(typeof(SettingsChangeDto))]
[JsonSerializable(typeof(FilesChangedDto))]
[JsonSerializable(typeof(IReadOnlyList<ConfigEntryDto>))]
[JsonSerializable(typeof(ConfigValueRequest))]
[JsonSerializable(typeof(ConfigChangeDto))]
[JsonSerializable(typeof(IReadOnlyList<IndexingDto>))]
[JsonSerializable(typeof(FileDto))]
[JsonSerializable(typeof(IReadOnlyList<string>))]
public sealed partial class ApiJson : JsonSerializerContext;
