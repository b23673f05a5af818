using System.Text.Json;
using System.Text.Json.Serialization;
using Shoal.Core;

namespace Shoal.Net.Tracking;

// The tracker's HTTP API: every call is a signed POST of one of these requests as JSON (see TrackerSignature) to
// TrackerPaths; the answer is the matching response, or a TrackerError with a 4xx status. Ids travel in their text
// forms: device ids as 64 lowercase hex digits of the certificate hash, file ids as in links; bitfields in base64.

public static class TrackerPaths
{
    public const string Announce = "/v1/announce";
    public const string Files = "/v1/files";
    public const string Holders = "/v1/holders";
    public const string Peers = "/v1/peers";
    public const string Leave = "/v1/leave";
    public const string Signals = "/v1/signals";
    public const string Punch = "/v1/punch";
    public const string Health = "/healthz";
}

/// <summary>The one written form of a device id on the tracker's wire and in its tables.</summary>
public static class TrackerDeviceId
{
    public static string Format(DeviceId device) => device.Value.ToHex();

    /// <summary>64 hex digits, any case.</summary>
    public static bool TryParse(string? text, out DeviceId device)
    {
        Span<byte> bytes = stackalloc byte[Hash256.Size];
        var parsed = text?.Length == 2 * Hash256.Size && Convert.FromHexString(text, bytes, out _, out _) == System.Buffers.OperationStatus.Done;
        device = parsed ? DeviceId.FromBytes(bytes) : default;
        return parsed;
    }
}

public static class TrackerLimits
{
    /// <summary>No request body is larger; Kestrel refuses a bigger one before reading it (413).</summary>
    public const int MaxBodyBytes = 4 << 20;

    public const int MaxFilesPerAnnounce = 10_000;
    public const int MaxAddresses = 8;
    public const int MaxAddressLength = 64;
    public const int MaxNameLength = 255;
    public const int MaxQueryLength = 255;
    public const int MaxResults = 1_000;
    public const int MaxChunkCount = 1 << 24;
}

/// <summary>
/// Registers the sender (or keeps it registered: an announce is also the heartbeat) and changes what it holds.
/// With <see cref="Reset"/> the files listed replace everything the tracker knew of the sender's; without it they are
/// deltas: a listed file's entry replaces the old one, a removed one goes, others stay.
/// </summary>
public sealed record AnnounceRequest(
    string Name,
    int ListenPort,
    IReadOnlyList<string> Addresses,
    bool Reset,
    IReadOnlyList<FileAnnouncement> Files);

/// <summary>One file the sender holds (<see cref="Chunks"/> null: every chunk) or no longer holds.</summary>
public sealed record FileAnnouncement(
    string Id,
    string Name,
    long Size,
    int ChunkCount,
    string? Chunks = null,
    bool Removed = false);

/// <param name="IntervalSeconds">Announce again within this; a registration not renewed in three intervals expires.</param>
/// <param name="ObservedAddress">The address the tracker saw the request come from, with the announced listen port.</param>
/// <param name="NeedsReset">
/// The tracker did not know the sender (first contact, expired, or the tracker lost its data) and the request was
/// not a reset: send everything again with <see cref="AnnounceRequest.Reset"/>.
/// </param>
/// <param name="Reachable">
/// Whether the tracker could connect to <see cref="ObservedAddress"/> (null: not tried yet). A node that is not
/// reachable needs a punched hole or a relay to be reached by nodes that are not on its LAN.
/// </param>
/// <param name="Relays">Relays (HOST:PORT) this tracker's operator offers to the network.</param>
public sealed record AnnounceResponse(int IntervalSeconds, string ObservedAddress, bool NeedsReset, bool? Reachable = null, IReadOnlyList<string>? Relays = null);

/// <summary>The network's files that some live node holds, whose name contains <see cref="Query"/> (any case).</summary>
public sealed record FilesRequest(string? Query, int Limit = 100);

public sealed record FilesResponse(IReadOnlyList<TrackedFile> Files);

/// <param name="Holders">Live nodes holding at least one chunk.</param>
/// <param name="Replicas">The fewest live holders of any one chunk (0: some chunk is on no live node).</param>
public sealed record TrackedFile(string Id, string Name, long Size, int ChunkCount, int Holders, int Replicas);

/// <summary>Who holds <see cref="File"/>: up to <see cref="Limit"/> live holders (the summary counts all of them).</summary>
public sealed record HoldersRequest(string File, int Limit = 200);

/// <summary><see cref="File"/> is null when no live node holds the file.</summary>
public sealed record HoldersResponse(TrackedFile? File, IReadOnlyList<FileHolder> Holders);

public sealed record FileHolder(string Device, string Name, IReadOnlyList<string> Addresses, string? Chunks);

/// <summary>Live nodes of the network other than the sender: the ones listed, or up to <see cref="Limit"/> of them.</summary>
public sealed record PeersRequest(IReadOnlyList<string>? Devices = null, int Limit = 200);

public sealed record PeersResponse(IReadOnlyList<TrackedPeer> Peers);

/// <param name="LastSeen">Unix milliseconds of the peer's last announce.</param>
/// <param name="Reachable">Whether the tracker could connect to the peer's observed address (null: not known).</param>
public sealed record TrackedPeer(string Device, string Name, IReadOnlyList<string> Addresses, long LastSeen, bool? Reachable = null);

/// <summary>Unregisters the sender at once (a clean shutdown), rather than when its registration expires.</summary>
public sealed record LeaveRequest;

public sealed record LeaveResponse(bool Removed);

/// <summary>
/// A long poll, sent from the node's listen port: the tracker answers when another member asks to punch a hole to the
/// sender, or after <see cref="WaitSeconds"/>. While it waits, the tracker knows the sender's listen port as its NAT
/// maps it (the request's source), and the open connection keeps that mapping alive.
/// </summary>
public sealed record SignalsRequest(int WaitSeconds = 20);

/// <param name="ObservedAddress">The request's source address and port: the sender's listen port as others see it.</param>
public sealed record SignalsResponse(string ObservedAddress, IReadOnlyList<PunchSignal> Punches);

/// <summary>Dial <see cref="Address"/> from the listen port <see cref="DelayMs"/> after receiving this; <see cref="Device"/> dials back at once.</summary>
public sealed record PunchSignal(string Device, string Address, int DelayMs);

/// <summary>Asks the tracker to have <see cref="Device"/> (which must be polling for signals, as must the sender) dial the sender now.</summary>
public sealed record PunchRequest(string Device);

/// <summary><see cref="Address"/> null: no punch (both must be polling signals at this tracker); <see cref="Reason"/> says why.</summary>
public sealed record PunchResponse(string? Address, int DelayMs, string? Reason);

/// <summary>Every refusal: a 4xx status and a reason a person can act on.</summary>
public sealed record TrackerError(string Error);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(AnnounceRequest))]
[JsonSerializable(typeof(AnnounceResponse))]
[JsonSerializable(typeof(FilesRequest))]
[JsonSerializable(typeof(FilesResponse))]
[JsonSerializable(typeof(HoldersRequest))]
[JsonSerializable(typeof(HoldersResponse))]
[JsonSerializable(typeof(PeersRequest))]
[JsonSerializable(typeof(PeersResponse))]
[JsonSerializable(typeof(LeaveRequest))]
[JsonSerializable(typeof(LeaveResponse))]
[JsonSerializable(typeof(SignalsRequest))]
[JsonSerializable(typeof(SignalsResponse))]
[JsonSerializable(typeof(PunchRequest))]
[JsonSerializable(typeof(PunchResponse))]
[JsonSerializable(typeof(TrackerError))]
public sealed partial class TrackerJson : JsonSerializerContext;
