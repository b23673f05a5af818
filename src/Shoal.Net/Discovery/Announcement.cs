using System.Net;
using Shoal.Core;

namespace Shoal.Net.Discovery;

/// <summary>
/// What a node says about itself on the local network. <see cref="Addresses"/> are "host:port" strings (IPv6 in
/// brackets); "0.0.0.0:port" and "[::]:port" mean "the address this announcement came from".
/// </summary>
public sealed record Announcement(DeviceId Device, string Name, IReadOnlyList<string> Addresses);

/// <summary>
/// A member heard on the local network. Nothing here is authenticated beyond "someone holding the network key sent
/// it": the device id is a hint for whom to dial, and only the TLS handshake establishes who answered.
/// </summary>
/// <param name="Addresses">
/// <see cref="IPEndPoint"/>s, or <see cref="DnsEndPoint"/>s for names; unspecified addresses already replaced by the
/// announcement's source. The union of what the peer announced within the expiry, so an announcement heard over both
/// IPv4 and IPv6 contributes both source addresses.
/// </param>
public sealed record DiscoveredPeer(DeviceId Device, string Name, IReadOnlyList<EndPoint> Addresses, DateTimeOffset LastHeard);
