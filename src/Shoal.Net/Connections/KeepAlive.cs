namespace Shoal.Net.Connections;

/// <summary>
/// How often a link is pinged, and how long without a byte from the peer closes it: a link whose path went silent
/// (a stall, a dead NAT mapping) is noticed and redialled instead of waiting on TCP forever.
/// </summary>
public sealed record KeepAlive(TimeSpan Interval, TimeSpan IdleTimeout)
{
    public static KeepAlive Default { get; } = new(TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(60));
}
