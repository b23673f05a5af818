using System.Collections.Concurrent;
using Shoal.Core;

namespace Shoal.Node.Peers;

/// <summary>
/// Strikes for bad data. One corrupt chunk can be an accident (a disk error at the source); several are a liar,
/// which is disconnected and refused for a while.
/// </summary>
public sealed class PeerReputation(TimeProvider time)
{
    public const int StrikesBeforeBan = 3;
    public static readonly TimeSpan BanDuration = TimeSpan.FromHours(1);

    private readonly ConcurrentDictionary<DeviceId, int> _strikes = new();
    private readonly ConcurrentDictionary<DeviceId, DateTimeOffset> _bannedUntil = new();

    /// <summary>Returns true when this strike got the peer banned.</summary>
    public bool Strike(DeviceId peer)
    {
        var strikes = _strikes.AddOrUpdate(peer, 1, (_, count) => count + 1);
        if (strikes < StrikesBeforeBan) return false;
        _strikes.TryRemove(peer, out _);
        _bannedUntil[peer] = time.GetUtcNow() + BanDuration;
        return true;
    }

    public int StrikesOf(DeviceId peer) => _strikes.TryGetValue(peer, out var count) ? count : 0;

    public bool IsBanned(DeviceId peer)
    {
        if (!_bannedUntil.TryGetValue(peer, out var until)) return false;
        if (time.GetUtcNow() < until) return true;
        _bannedUntil.TryRemove(peer, out _);
        return false;
    }

    public IReadOnlyCollection<DeviceId> Banned => [.. _bannedUntil.Keys.Where(IsBanned)];
}
