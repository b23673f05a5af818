using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Core;
using Shoal.Net.Discovery;
using Shoal.Testing;

namespace Shoal.Net.Tests.Discovery;

public sealed class LanDiscoveryTests : IAsyncDisposable
{
    private const int Port = DiscoveryOptions.DefaultPort;

    private static readonly DiscoveryOptions Options = new();

    private readonly ManualTimeProvider _time = new();
    private readonly InMemoryDatagramNetwork _network = new();
    private readonly byte[] _key = DiscoveryPacket.DeriveKey(NetworkMembership.CreateNew());
    private readonly List<Node> _nodes = [];

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes) await node.DisposeAsync();
    }

    [Fact]
    public async Task ThreeNodesDiscoverEachOtherAtStartWithoutWaitingForTheInterval()
    {
        var nodes = Enumerable.Range(1, 3).Select(i => AddNode(i, [$"[::]:{7420 + i}"])).ToList();
        foreach (var node in nodes) node.Discovery.Start();

        foreach (var node in nodes)
        {
            await WaitUntil(() => node.Discovery.Peers.Count == 2 && node.Heard.Count == 2);
            foreach (var other in nodes.Where(n => n != node))
            {
                var peer = Assert.Single(node.Discovery.Peers, p => p.Device == other.Device);
                Assert.Equal($"node {other.Number}", peer.Name);
                Assert.Equal([new IPEndPoint(other.Endpoint.Source.Address, 7420 + other.Number)], peer.Addresses);
                Assert.Contains(node.Heard, p => p.Device == other.Device);
            }
        }
    }

    [Fact]
    public async Task UnspecifiedAddressesBecomeTheSourceAndOthersAreKept()
    {
        var listener = AddNode(1, []);
        listener.Discovery.Start();
        var sender = _network.Attach(new IPEndPoint(IPAddress.Parse("192.0.2.50"), Port));
        var device = Ids(50);

        await sender.SendAsync(Packet(device, ["0.0.0.0:7001", "[::]:7002", "198.51.100.9:7003", "host.example:7004"]), default);
        await WaitUntil(() => listener.Discovery.Peers.Count == 1);

        var source = IPAddress.Parse("192.0.2.50");
        Assert.Equal(
            [new IPEndPoint(source, 7001), new IPEndPoint(source, 7002), new IPEndPoint(IPAddress.Parse("198.51.100.9"), 7003), new DnsEndPoint("host.example", 7004)],
            listener.Discovery.Peers[0].Addresses);
    }

    [Fact]
    public async Task AnIPv6SourceReplacesOnlyTheIPv6UnspecifiedAddress()
    {
        var listener = AddNode(1, []);
        listener.Discovery.Start();
        var linkLocal = new IPAddress(IPAddress.Parse("fe80::2").GetAddressBytes(), 3);
        var sender = _network.Attach(new IPEndPoint(linkLocal, Port));

        await sender.SendAsync(Packet(Ids(60), ["0.0.0.0:7001", "[::]:7002"]), default);
        await WaitUntil(() => listener.Discovery.Peers.Count == 1);

        Assert.Equal([new IPEndPoint(linkLocal, 7002)], listener.Discovery.Peers[0].Addresses);
    }

    [Fact]
    public async Task OneAnnouncementHeardOverTwoPathsContributesBothSources()
    {
        var listener = AddNode(1, []);
        listener.Discovery.Start();
        var sender = _network.Attach(new IPEndPoint(IPAddress.Parse("192.0.2.70"), Port));
        var packet = Packet(Ids(70), ["[::]:7420"]);

        await sender.SendAsync(packet, default);
        sender.Source = new IPEndPoint(IPAddress.Parse("2001:db8::70"), Port);
        await sender.SendAsync(packet, default);
        await WaitUntil(() => listener.Discovery.Statistics.Accepted == 2);

        Assert.Equal(
            [new IPEndPoint(IPAddress.Parse("192.0.2.70"), 7420), new IPEndPoint(IPAddress.Parse("2001:db8::70"), 7420)],
            listener.Discovery.Peers[0].Addresses);
        Assert.Equal(2, listener.Heard.Count);
    }

    [Fact]
    public async Task DiscoveredIsRaisedForNewPeersAndNewAddressesButNotForRepeats()
    {
        var listener = AddNode(1, []);
        listener.Discovery.Start();
        var sender = _network.Attach(new IPEndPoint(IPAddress.Parse("192.0.2.80"), Port));
        var device = Ids(80);

        await sender.SendAsync(Packet(device, ["[::]:7420"]), default);
        await sender.SendAsync(Packet(device, ["[::]:7420"]), default);
        await sender.SendAsync(Packet(device, ["[::]:7420", "198.51.100.80:7420"]), default);
        await WaitUntil(() => listener.Discovery.Statistics.Accepted == 3);

        Assert.Equal(2, listener.Heard.Count);
        Assert.Single(listener.Heard.Last().Addresses, a => a.Equals(new IPEndPoint(IPAddress.Parse("198.51.100.80"), 7420)));
    }

    [Fact]
    public async Task AReplayedOlderAnnouncementIsIgnored()
    {
        var listener = AddNode(1, []);
        listener.Discovery.Start();
        var sender = _network.Attach(new IPEndPoint(IPAddress.Parse("192.0.2.90"), Port));
        var device = Ids(90);
        var older = Packet(device, ["198.51.100.1:7420"], offset: TimeSpan.FromSeconds(-10));

        await sender.SendAsync(Packet(device, ["198.51.100.2:7420"]), default);
        await sender.SendAsync(older, default);
        await WaitUntil(() => listener.Discovery.Statistics.Processed == 2);

        Assert.Equal(1, listener.Discovery.Statistics.Stale);
        Assert.Equal([new IPEndPoint(IPAddress.Parse("198.51.100.2"), 7420)], listener.Discovery.Peers[0].Addresses);
    }

    [Fact]
    public async Task EntriesExpireWhenThePeerStopsAnnouncing()
    {
        var a = AddNode(1, ["[::]:7420"]);
        var b = AddNode(2, ["[::]:7420"]);
        a.Discovery.Start();
        b.Discovery.Start();
        await WaitUntil(() => a.Discovery.Peers.Count == 1 && b.Discovery.Peers.Count == 1);

        await b.DisposeAsync();
        _time.Advance(Options.Expiry - TimeSpan.FromSeconds(1));
        Assert.Single(a.Discovery.Peers);

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Empty(a.Discovery.Peers);
    }

    [Fact]
    public async Task APeerThatKeepsAnnouncingStaysListed()
    {
        var a = AddNode(1, ["[::]:7420"]);
        var b = AddNode(2, ["[::]:7420"]);
        a.Discovery.Start();
        b.Discovery.Start();
        await WaitUntil(() => a.Discovery.Peers.Count == 1);

        for (var i = 1; i <= 6; i++)
        {
            var sent = b.Discovery.Statistics.Sent;
            _time.Advance(Options.Interval);
            await WaitUntil(() => b.Discovery.Statistics.Sent > sent);
            await WaitUntil(() => a.Discovery.Peers.Count == 1 && a.Discovery.Peers[0].LastHeard == _time.GetUtcNow());
        }

        Assert.Single(a.Heard);
    }

    [Fact]
    public async Task AnnouncesAtStartEveryIntervalAndOnAddressChange()
    {
        var node = AddNode(1, ["[::]:7420"]);
        var observer = _network.Attach(new IPEndPoint(IPAddress.Parse("192.0.2.200"), Port));
        node.Discovery.Start();
        await ReceiveAnnouncement(observer);

        node.Endpoint.RaiseLocalAddressesChanged();
        await ReceiveAnnouncement(observer);

        node.Discovery.AnnounceNow();
        await ReceiveAnnouncement(observer);

        _time.Advance(Options.Interval);
        await ReceiveAnnouncement(observer);
    }

    [Fact]
    public async Task AFloodFromOneSourceIsRateLimitedWithoutSilencingOthers()
    {
        var listener = AddNode(1, []);
        listener.Discovery.Start();
        var flooder = _network.Attach(new IPEndPoint(IPAddress.Parse("192.0.2.66"), Port));
        var honest = _network.Attach(new IPEndPoint(IPAddress.Parse("192.0.2.67"), Port));

        for (var i = 0; i < 100; i++) await flooder.SendAsync(Packet(Ids(66), ["[::]:7420"]), default);
        await honest.SendAsync(Packet(Ids(67), ["[::]:7420"]), default);
        await WaitUntil(() => listener.Discovery.Statistics.Processed == 101);

        Assert.Equal(21, listener.Discovery.Statistics.Accepted);
        Assert.Equal(80, listener.Discovery.Statistics.RateLimited);
        Assert.Equal(2, listener.Discovery.Peers.Count);

        _time.Advance(TimeSpan.FromSeconds(1));
        for (var i = 0; i < 100; i++) await flooder.SendAsync(Packet(Ids(66), ["[::]:7420"]), default);
        await WaitUntil(() => listener.Discovery.Statistics.Processed == 201);
        Assert.Equal(41, listener.Discovery.Statistics.Accepted);
    }

    [Fact]
    public async Task AFloodFromManySourcesIsLimitedGlobally()
    {
        var listener = AddNode(1, []);
        listener.Discovery.Start();
        var flooder = _network.Attach(new IPEndPoint(IPAddress.Parse("192.0.2.1"), Port));

        for (var i = 0; i < 300; i++)
        {
            flooder.Source = new IPEndPoint(new IPAddress([10, 0, (byte)(i / 256), (byte)(i % 256)]), Port);
            await flooder.SendAsync(Packet(Ids(1000 + i), ["[::]:7420"]), default);
        }

        await WaitUntil(() => listener.Discovery.Statistics.Processed == 300);
        Assert.Equal(200, listener.Discovery.Statistics.Accepted);
        Assert.Equal(100, listener.Discovery.Statistics.RateLimited);
    }

    [Fact]
    public async Task DisallowedSourcesAreIgnored()
    {
        var banned = IPAddress.Parse("192.0.2.2");
        var a = AddNode(1, ["[::]:7420"], isAllowedSource: address => !address.Equals(banned));
        var b = AddNode(2, ["[::]:7420"]);
        a.Discovery.Start();
        b.Discovery.Start();

        await WaitUntil(() => a.Discovery.Statistics.DisallowedSource >= 1 && b.Discovery.Peers.Count == 1);
        Assert.Empty(a.Discovery.Peers);
        Assert.Empty(a.Heard);
    }

    [Fact]
    public async Task OwnAnnouncementsAreIgnored()
    {
        var node = AddNode(1, ["[::]:7420"]);
        node.Discovery.Start();
        var echo = _network.Attach(new IPEndPoint(IPAddress.Parse("192.0.2.1"), Port));

        await echo.SendAsync(Packet(node.Device, ["[::]:7420"]), default);
        await WaitUntil(() => node.Discovery.Statistics.Processed == 1);

        Assert.Equal(1, node.Discovery.Statistics.Own);
        Assert.Empty(node.Discovery.Peers);
    }

    [Fact]
    public async Task AnotherNetworksNodesAreNotDiscovered()
    {
        var member = AddNode(1, ["[::]:7420"]);
        var stranger = AddNode(2, ["[::]:7420"], key: DiscoveryPacket.DeriveKey(NetworkMembership.CreateNew()));
        member.Discovery.Start();
        stranger.Discovery.Start();

        await WaitUntil(() => member.Discovery.Statistics.Invalid >= 1 && stranger.Discovery.Statistics.Invalid >= 1);
        Assert.Empty(member.Discovery.Peers);
        Assert.Empty(stranger.Discovery.Peers);
    }

    [Fact]
    public async Task BadDatagramsAndThrowingHandlersDoNotStopTheLoop()
    {
        var listener = AddNode(1, []);
        listener.Discovery.Discovered += _ => throw new InvalidOperationException("handler bug");
        listener.Discovery.Start();
        var sender = _network.Attach(new IPEndPoint(IPAddress.Parse("192.0.2.99"), Port));

        await sender.SendAsync(new byte[DiscoveryPacket.MaxPacketSize + 500], default);
        await sender.SendAsync("SHD1 garbage"u8.ToArray(), default);
        await sender.SendAsync(Array.Empty<byte>(), default);
        await sender.SendAsync(Packet(Ids(99), ["[::]:7420"]), default);
        await sender.SendAsync(Packet(Ids(98), ["[::]:7420"]), default);
        await WaitUntil(() => listener.Discovery.Statistics.Processed == 5);

        Assert.Equal(1, listener.Discovery.Statistics.Oversized);
        Assert.Equal(2, listener.Discovery.Statistics.Invalid);
        Assert.Equal(2, listener.Discovery.Peers.Count);
    }

    private Node AddNode(int number, string[] addresses, Func<IPAddress, bool>? isAllowedSource = null, byte[]? key = null)
    {
        var endpoint = _network.Attach(new IPEndPoint(new IPAddress([192, 0, 2, (byte)number]), Port));
        var device = Ids(number);
        var discovery = new LanDiscovery(
            endpoint,
            key ?? _key,
            device,
            () => new Announcement(device, $"node {number}", addresses),
            Options,
            _time,
            NullLogger.Instance,
            isAllowedSource);
        var node = new Node(number, device, endpoint, discovery);
        _nodes.Add(node);
        return node;
    }

    private byte[] Packet(DeviceId device, string[] addresses, TimeSpan offset = default) =>
        DiscoveryPacket.Encode(
            new Announcement(device, "sender", addresses), _key, (_time.GetUtcNow() + offset).ToUnixTimeMilliseconds());

    private async Task ReceiveAnnouncement(InMemoryDatagramEndpoint observer)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[DiscoveryPacket.MaxPacketSize];
        var (length, _) = await observer.ReceiveAsync(buffer, timeout.Token);
        Assert.True(DiscoveryPacket.TryDecode(buffer.AsSpan(0, length), _key, _time.GetUtcNow().ToUnixTimeMilliseconds(), out _, out var error), error);
    }

    private static DeviceId Ids(int seed) => DeviceId.FromCertificate(BitConverter.GetBytes(seed));

    // The loops run on the thread pool; the manual clock keeps what they do deterministic, only not when.
    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(10), "timed out waiting for discovery");
            await Task.Delay(5);
        }
    }

    private sealed class Node : IAsyncDisposable
    {
        private readonly ConcurrentQueue<DiscoveredPeer> _heard = new();

        public Node(int number, DeviceId device, InMemoryDatagramEndpoint endpoint, LanDiscovery discovery)
        {
            Number = number;
            Device = device;
            Endpoint = endpoint;
            Discovery = discovery;
            Discovery.Discovered += _heard.Enqueue;
        }

        public int Number { get; }

        public DeviceId Device { get; }

        public InMemoryDatagramEndpoint Endpoint { get; }

        public LanDiscovery Discovery { get; }

        public IReadOnlyList<DiscoveredPeer> Heard => [.. _heard];

        public ValueTask DisposeAsync() => Discovery.DisposeAsync();
    }
}
