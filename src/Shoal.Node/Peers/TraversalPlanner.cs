using Shoal.Core;
using Shoal.Net.Connections;

namespace Shoal.Node.Peers;

public enum TraversalStep
{
    None,

    /// <summary>Ask the tracker to coordinate a simultaneous open.</summary>
    Punch,

    /// <summary>Open a session to the peer through a relay.</summary>
    Relay,
}

/// <summary>What this node knows of a peer it has no direct link to, for <see cref="TraversalPlanner.Next"/>.</summary>
/// <param name="Link">The link it has now, if any.</param>
public readonly record struct PeerSituation(bool? SelfReachable, bool? PeerReachable, LinkKind? Link, bool RelayKnown);

/// <param name="PunchRetry">After a failed punch, the first wait before the next (doubling up to <see cref="MaxPunchRetry"/>); also how soon a relayed link tries to become direct.</param>
/// <param name="RelayRetry">After a failed relay session, the first wait before the next (doubling up to <see cref="MaxRelayRetry"/>).</param>
public sealed record TraversalOptions(TimeSpan PunchRetry, TimeSpan MaxPunchRetry, TimeSpan RelayRetry, TimeSpan MaxRelayRetry)
{
    public static TraversalOptions Default { get; } = new(TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(2));
}

/// <summary>
/// Decides, per peer, when to punch a hole and when to fall back to a relay. Only when neither side can be dialled
/// (the trackers said so) is there anything to do, and then only the side with the smaller device id acts, so two
/// nodes never start two punches at each other. A relayed link keeps trying to punch, so it becomes direct when the
/// NATs allow it; failures back off exponentially. Pure: time comes in as arguments.
/// </summary>
public sealed class TraversalPlanner(DeviceId self, TraversalOptions options)
{
    private readonly Dictionary<DeviceId, State> _peers = [];
    private readonly Lock _gate = new();

    public TraversalStep Next(DeviceId peer, PeerSituation situation, DateTimeOffset now)
    {
        lock (_gate) return NextLocked(peer, situation, now);
    }

    private TraversalStep NextLocked(DeviceId peer, PeerSituation situation, DateTimeOffset now)
    {
        if (situation.Link is LinkKind.Direct or LinkKind.Punched)
        {
            _peers.Remove(peer);
            return TraversalStep.None;
        }

        if (self.CompareTo(peer) >= 0 || situation.SelfReachable != false || situation.PeerReachable != false) return TraversalStep.None;
        var state = StateOf(peer);
        if (now >= state.NextPunch) return TraversalStep.Punch;
        if (situation.Link is null && situation.RelayKnown && now >= state.NextRelay) return TraversalStep.Relay;
        return TraversalStep.None;
    }

    public void PunchFailed(DeviceId peer, DateTimeOffset now)
    {
        lock (_gate)
        {
            var state = StateOf(peer);
            state.PunchFailures++;
            state.NextPunch = now + Backoff(options.PunchRetry, options.MaxPunchRetry, state.PunchFailures);
        }
    }

    public void RelayFailed(DeviceId peer, DateTimeOffset now)
    {
        lock (_gate)
        {
            var state = StateOf(peer);
            state.RelayFailures++;
            state.NextRelay = now + Backoff(options.RelayRetry, options.MaxRelayRetry, state.RelayFailures);
        }
    }

    public void RelayConnected(DeviceId peer)
    {
        lock (_gate) StateOf(peer).RelayFailures = 0;
    }

    /// <summary>Forgets peers not in <paramref name="known"/>, so the table stays as small as the peer list.</summary>
    public void Retain(IReadOnlySet<DeviceId> known)
    {
        lock (_gate)
        {
            foreach (var peer in _peers.Keys.Where(p => !known.Contains(p)).ToList()) _peers.Remove(peer);
        }
    }

    private State StateOf(DeviceId peer)
    {
        if (!_peers.TryGetValue(peer, out var state)) _peers[peer] = state = new State();
        return state;
    }

    private static TimeSpan Backoff(TimeSpan first, TimeSpan max, int failures) =>
        TimeSpan.FromTicks(Math.Min(max.Ticks, first.Ticks << Math.Min(failures - 1, 20)));

    private sealed class State
    {
        public DateTimeOffset NextPunch { get; set; } = DateTimeOffset.MinValue;

        public DateTimeOffset NextRelay { get; set; } = DateTimeOffset.MinValue;

        public int PunchFailures { get; set; }

        public int RelayFailures { get; set; }
    }
}
