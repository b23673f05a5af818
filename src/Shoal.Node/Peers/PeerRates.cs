using System.Collections.Concurrent;
using Shoal.Core;
using Shoal.Net.Connections;

namespace Shoal.Node.Peers;

/// <summary>Current upload and download rate per connected peer, sampled once a second from its byte counters.</summary>
public sealed class PeerRates
{
    // Weight of the newest one-second sample: the rate settles within a few seconds yet does not jitter per chunk.
    private const double Smoothing = 0.5;

    private readonly ConcurrentDictionary<PeerConnection, Reading> _samples = new();
    private readonly TimeProvider _time;

    public PeerRates(TimeProvider time) => _time = time;

    public (double Up, double Down) RatesOf(PeerConnection connection) =>
        _samples.TryGetValue(connection, out var sample) ? (sample.UpRate, sample.DownRate) : (0, 0);

    /// <summary>Takes one sample of every live connection and forgets the closed ones.</summary>
    public void Sample(IReadOnlyCollection<PeerConnection> connections)
    {
        var now = _time.GetTimestamp();
        foreach (var connection in connections)
        {
            var (sent, received) = (connection.ChunkBytesSent, connection.ChunkBytesReceived);
            _samples.AddOrUpdate(
                connection,
                _ => new Reading(now, sent, received, 0, 0),
                (_, last) =>
                {
                    var seconds = _time.GetElapsedTime(last.Timestamp, now).TotalSeconds;
                    if (seconds <= 0) return last;
                    return new Reading(
                        now,
                        sent,
                        received,
                        Smooth(last.UpRate, (sent - last.Sent) / seconds),
                        Smooth(last.DownRate, (received - last.Received) / seconds));
                });
        }

        foreach (var gone in _samples.Keys.Where(c => !connections.Contains(c)).ToList()) _samples.TryRemove(gone, out _);
    }

    private static double Smooth(double previous, double sample) => previous + (Smoothing * (sample - previous));

    private sealed record Reading(long Timestamp, long Sent, long Received, double UpRate, double DownRate);
}
