namespace Shoal.Swarm;

/// <summary>Tuning for one <see cref="SwarmDownload"/>.</summary>
public sealed record SwarmOptions
{
    /// <summary>
    /// How much work to keep queued at each peer, in time at its measured rate: enough to hide a round trip so
    /// the peer never idles, little enough that a slow peer does not hoard chunks.
    /// </summary>
    public TimeSpan TargetQueueTime { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>A peer's window never drops below this many average-sized chunks, so an unmeasured peer can start.</summary>
    public int MinWindowChunks { get; init; } = 2;

    public long MaxWindowBytes { get; init; } = 16L * 1024 * 1024;

    /// <summary>
    /// Bounds the memory one download holds in requested, received and not yet written chunks. 32 MiB is over 60 ms
    /// of data at 500 MB/s: enough to keep verification and disk writes busy while the network delivers more.
    /// </summary>
    public long MaxInFlightBytes { get; init; } = 32L * 1024 * 1024;

    /// <summary>The sliding window over which progress rates are reported.</summary>
    public TimeSpan RateWindow { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>A peer that delivered within this long still counts as an active source.</summary>
    public TimeSpan ActiveSourceWindow { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a peer that answered "busy" for a chunk is not asked for it again (it is fetched from other holders
    /// meanwhile, if any).
    /// </summary>
    public TimeSpan BusyRetry { get; init; } = TimeSpan.FromSeconds(1);

    internal void Validate()
    {
        if (TargetQueueTime <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(TargetQueueTime), "must be positive");
        if (RateWindow <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RateWindow), "must be positive");
        if (BusyRetry <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(BusyRetry), "must be positive");
        if (ActiveSourceWindow < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ActiveSourceWindow), "must not be negative");
        ArgumentOutOfRangeException.ThrowIfLessThan(MinWindowChunks, 1, nameof(MinWindowChunks));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxWindowBytes, 1, nameof(MaxWindowBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxInFlightBytes, 1, nameof(MaxInFlightBytes));
    }
}
