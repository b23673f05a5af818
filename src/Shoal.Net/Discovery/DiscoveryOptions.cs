namespace Shoal.Net.Discovery;

/// <summary>Settings for <see cref="LanDiscovery"/>; <see cref="Port"/> is for the <see cref="UdpDatagramTransport"/>.</summary>
public sealed record DiscoveryOptions
{
    /// <summary>
    /// UDP port for announcements on every host of the LAN: next to the peer protocol (7420/tcp) and API (7421)
    /// defaults. Every node of a host binds it with address reuse, so one port serves them all.
    /// </summary>
    public const int DefaultPort = 7422;

    private readonly TimeSpan? _expiry;

    public int Port { get; init; } = DefaultPort;

    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Defaults to three intervals, so one or two lost datagrams do not make a peer vanish.</summary>
    public TimeSpan Expiry
    {
        get => _expiry ?? (3 * Interval);
        init => _expiry = value;
    }

    /// <summary>Announcements accepted per second from one source address, and in a burst from it.</summary>
    public double PerSourceRate { get; init; } = 20;

    /// <summary>Announcements accepted per second from all sources together: bounds the decryption work a flood costs.</summary>
    public double GlobalRate { get; init; } = 200;

    /// <summary>Members remembered at once; a LAN with more nodes than this is far outside what discovery is for.</summary>
    public int MaxPeers { get; init; } = 1024;
}
