using Shoal.Net.Tracking;

namespace Shoal.Tracker.Storage;

/// <summary>
/// What the tracker remembers: registrations, who holds which chunks of which file, and the nonces of requests seen.
/// Every call is made on behalf of a verified sender: it first consumes the sender's nonce (a replay throws
/// <see cref="ReplayedRequestException"/> and changes nothing) and sees only the sender's network. "Live" means
/// registered with an expiry after <c>now</c>; what is not live is invisible whether or not it was swept yet.
/// </summary>
public interface ITrackerStore : IAsyncDisposable
{
    /// <summary>Which database this is, for logs: kind and location, never a password.</summary>
    string Description { get; }

    /// <summary>Reads the applied schema version from the database (so it also tells whether the database answers).</summary>
    Task<int> ReadSchemaVersionAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Registers the sender until <paramref name="expiresAt"/> and applies <paramref name="changes"/> to what it holds
    /// (with <paramref name="reset"/>, to nothing: they become everything it holds). One transaction.
    /// </summary>
    /// <returns>Whether the sender was live before: if not, and this was no reset, it must announce everything again.</returns>
    Task<bool> AnnounceAsync(
        TrackerSender sender,
        DeviceRegistration registration,
        bool reset,
        IReadOnlyList<HoldingChange> changes,
        DateTimeOffset now,
        DateTimeOffset expiresAt,
        CancellationToken cancellationToken);

    /// <summary>Files held by live devices whose name contains <paramref name="query"/> in any case, by name.</summary>
    Task<IReadOnlyList<TrackedFile>> FilesAsync(TrackerSender sender, string? query, int limit, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The live holders of <paramref name="file"/> (a file id's text form), most recently updated first.</summary>
    Task<HoldersResponse> HoldersAsync(TrackerSender sender, string file, int limit, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Live devices other than the sender: those in <paramref name="devices"/> (hex ids) if given, else the most recently seen.</summary>
    Task<IReadOnlyList<TrackedPeer>> PeersAsync(TrackerSender sender, IReadOnlyList<string>? devices, int limit, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Whether the sender is registered and live (consuming its nonce, like every call).</summary>
    Task<bool> IsLiveAsync(TrackerSender sender, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Forgets the sender's registration and holdings.</summary>
    /// <returns>Whether it was registered.</returns>
    Task<bool> LeaveAsync(TrackerSender sender, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Deletes expired registrations with their holdings and nonces too old to be replayed; keeps the database in shape.</summary>
    Task<SweepResult> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken);
}

/// <param name="Addresses">Where the device can be dialled, in order of preference (at most <see cref="TrackerLimits.MaxAddresses"/>).</param>
public sealed record DeviceRegistration(string Name, IReadOnlyList<string> Addresses);

/// <summary>A file the device now holds (<see cref="Chunks"/> null: all of it), or, with <see cref="Removed"/>, no longer holds.</summary>
/// <param name="File">The file id's canonical text form.</param>
/// <param name="Chunks">Bitfield of <see cref="Core.Bitfield.ByteLength"/>(<see cref="ChunkCount"/>) bytes, some but not all bits set.</param>
public sealed record HoldingChange(string File, string Name, long Size, int ChunkCount, byte[]? Chunks, bool Removed = false)
{
    public static HoldingChange Removal(string file) => new(file, "", 0, 0, null, Removed: true);
}

public readonly record struct SweepResult(int Devices, int Nonces);

/// <summary>The sender already used this nonce: the request is a replay (or was sent twice) and was not applied again.</summary>
public sealed class ReplayedRequestException() : Exception("replayed request: this nonce was already used");
