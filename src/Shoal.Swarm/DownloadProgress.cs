using Shoal.Core;

namespace Shoal.Swarm;

/// <summary>A point-in-time view of a download. Rates are over <see cref="SwarmOptions.RateWindow"/>.</summary>
/// <param name="BytesReceived">Everything received, including duplicates and corrupt data that were thrown away.</param>
public sealed record DownloadProgress(
    long TotalBytes,
    long VerifiedBytes,
    int VerifiedChunks,
    int TotalChunks,
    long BytesReceived,
    double BytesPerSecond,
    int ActiveSources,
    IReadOnlyList<PeerProgress> Peers)
{
    public bool IsComplete => VerifiedChunks == TotalChunks;
}

/// <summary>One peer's contribution; peers that left stay listed once they delivered something.</summary>
public sealed record PeerProgress(DeviceId Id, string Name, bool Connected, long BytesReceived, double BytesPerSecond);
