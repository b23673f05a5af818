using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Core;
using Shoal.Net.Relay;
using Shoal.Net.Tracking;
using Shoal.Testing;

namespace Shoal.Net.Tests.Relay;

public sealed class RelayFramesTests
{
    private static readonly DeviceId Device = DeviceId.FromBytes(RandomNumberGenerator.GetBytes(32));

    public static TheoryData<RelayFrame> Frames => new()
    {
        new RelayChallenge(new byte[RelayFrames.NonceSize]),
        new RelayHello(RelayRole.Connect, Device, RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(91), RandomNumberGenerator.GetBytes(72)),
        new RelayResult(RelayStatus.LimitReached, "too many sessions"),
        new RelayIncoming(RandomNumberGenerator.GetBytes(32), Device),
        new RelayPing(),
    };

    [Theory]
    [MemberData(nameof(Frames))]
    public void Every_frame_decodes_to_what_was_encoded(RelayFrame frame)
    {
        var bytes = RelayFrames.Encode(frame);
        Assert.True(RelayFrames.TryReadLength(bytes, out var length));
        Assert.Equal(bytes.Length - 2, length);
        Assert.True(RelayFrames.TryDecode(bytes.AsSpan(2), out var decoded, out var error), error);
        Assert.Equal(RelayFrames.Encode(decoded!), bytes);
    }

    [Theory]
    [MemberData(nameof(Frames))]
    public void A_cut_or_lengthened_frame_is_an_error_not_an_exception(RelayFrame frame)
    {
        var body = RelayFrames.Encode(frame).AsSpan(2).ToArray();
        for (var cut = 0; cut < body.Length; cut++)
        {
            if (frame is RelayResult && cut >= 2) continue; // a shorter text is still a result
            Assert.False(RelayFrames.TryDecode(body.AsSpan(0, cut), out _, out _), $"cut at {cut}");
        }

        if (frame is not RelayResult) Assert.False(RelayFrames.TryDecode([.. body, 0], out _, out _));
    }

    [Fact]
    public void Lengths_past_the_maximum_and_unknown_types_are_refused()
    {
        Assert.False(RelayFrames.TryReadLength([0x04, 0x01], out _));
        Assert.False(RelayFrames.TryReadLength([0, 0], out _));
        Assert.False(RelayFrames.TryDecode([99, 1, 2], out _, out var error));
        Assert.Contains("type 99", error, StringComparison.Ordinal);
    }
}

public sealed class RelayCredentialsTests : IDisposable
{
    private readonly NetworkTrackerKey _key = NetworkTrackerKey.Derive(NetworkMembership.CreateNew());
    private readonly NetworkTrackerKey _otherKey = NetworkTrackerKey.Derive(NetworkMembership.CreateNew());
    private readonly DeviceId _device = DeviceId.FromBytes(RandomNumberGenerator.GetBytes(32));
    private readonly byte[] _nonce = RandomNumberGenerator.GetBytes(RelayFrames.NonceSize);

    [Fact]
    public void A_member_proves_its_network_and_the_relay_learns_only_the_tag()
    {
        var hello = RelayCredentials.Hello(_key, RelayRole.Listen, _device, new byte[32], _nonce);
        Assert.Equal(_key.Tag, RelayCredentials.Verify(hello, _nonce));
    }

    [Fact]
    public void A_replayed_changed_or_forged_hello_proves_nothing()
    {
        var hello = RelayCredentials.Hello(_key, RelayRole.Connect, _device, new byte[32], _nonce);
        Assert.Null(RelayCredentials.Verify(hello, RandomNumberGenerator.GetBytes(RelayFrames.NonceSize)));
        Assert.Null(RelayCredentials.Verify(hello with { Role = RelayRole.Accept }, _nonce));
        Assert.Null(RelayCredentials.Verify(hello with { Subject = RandomNumberGenerator.GetBytes(32) }, _nonce));
        Assert.Null(RelayCredentials.Verify(hello with { NetworkKey = _otherKey.PublicKey }, _nonce));
        Assert.Null(RelayCredentials.Verify(hello with { NetworkKey = [1, 2, 3] }, _nonce));
    }

    public void Dispose()
    {
        _key.Dispose();
        _otherKey.Dispose();
    }
}

public sealed class RelayLedgerTests
{
    [Fact]
    public void Sessions_and_listeners_are_limited_per_network_and_given_back_once()
    {
        var ledger = new RelayLedger(new RelayLimits(SessionsPerNetwork: 2, ListenersPerNetwork: 1, MaxNetworks: 2), new ManualTimeProvider());
        var first = ledger.TryOpenSession("a");
        var second = ledger.TryOpenSession("a");
        Assert.NotNull(first);
        Assert.NotNull(second);
        Assert.Null(ledger.TryOpenSession("a"));
        Assert.NotNull(ledger.TryOpenSession("b"));
        Assert.Same(first!.Bandwidth, second!.Bandwidth);

        first.Dispose();
        first.Dispose();
        Assert.Equal((1, 0), ledger.Usage("a"));
        Assert.NotNull(ledger.TryListen("a"));
        Assert.Null(ledger.TryListen("a"));
    }

    [Fact]
    public void A_network_is_forgotten_when_it_holds_nothing_so_the_network_limit_counts_only_live_ones()
    {
        var ledger = new RelayLedger(new RelayLimits(MaxNetworks: 1), new ManualTimeProvider());
        var lease = ledger.TryListen("a");
        Assert.Null(ledger.TryListen("b"));
        lease!.Dispose();
        Assert.Equal(0, ledger.Networks);
        Assert.NotNull(ledger.TryListen("b"));
    }
}

/// <summary>A relay on loopback with two members and a stranger.</summary>
public sealed class RelayServerTests : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly NetworkTrackerKey _network = NetworkTrackerKey.Derive(NetworkMembership.CreateNew());
    private readonly NetworkTrackerKey _stranger = NetworkTrackerKey.Derive(NetworkMembership.CreateNew());
    private readonly DeviceId _a = DeviceId.FromBytes(RandomNumberGenerator.GetBytes(32));
    private readonly DeviceId _b = DeviceId.FromBytes(RandomNumberGenerator.GetBytes(32));
    private readonly MemoryStream _tap = new();
    private readonly RelayServer _relay;

    public RelayServerTests() =>
        _relay = RelayServer.Start(new IPEndPoint(IPAddress.Loopback, 0), new RelayLimits(SessionsPerNetwork: 1), NullLogger.Instance, TimeProvider.System, _tap);

    [Fact]
    public async Task A_session_forwards_bytes_both_ways_and_passes_on_a_close()
    {
        using var cancel = new CancellationTokenSource(Timeout);
        await using var control = await RelayClient.OpenAsync(_relay.EndPoint, _network, RelayRole.Listen, _b, RelayClient.NoSubject, cancel.Token);
        var connecting = RelayClient.OpenAsync(_relay.EndPoint, _network, RelayRole.Connect, _a, _b.Value.ToArray(), cancel.Token);
        var incoming = Assert.IsType<RelayIncoming>(await RelayWire.ReadAsync(control, cancel.Token));
        Assert.Equal(_a, incoming.From);
        await using var accepted = await RelayClient.OpenAsync(_relay.EndPoint, _network, RelayRole.Accept, _b, incoming.Session, cancel.Token);
        await using var connected = await connecting;

        await connected.WriteAsync("hello b"u8.ToArray(), cancel.Token);
        var buffer = new byte[7];
        await accepted.ReadExactlyAsync(buffer, cancel.Token);
        Assert.Equal("hello b"u8.ToArray(), buffer);
        await accepted.WriteAsync("hello a"u8.ToArray(), cancel.Token);
        await connected.ReadExactlyAsync(buffer, cancel.Token);
        Assert.Equal("hello a"u8.ToArray(), buffer);

        connected.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        Assert.Equal(0, await accepted.ReadAsync(buffer, cancel.Token));
        Assert.Equal(14, _relay.ForwardedBytes);
        Assert.Equal(14, _tap.Length);

        // The network's one session is taken until this one ends.
        var refused = await Assert.ThrowsAsync<RelayRefusedException>(() => RelayClient.OpenAsync(_relay.EndPoint, _network, RelayRole.Connect, _a, _b.Value.ToArray(), cancel.Token));
        Assert.Equal(RelayStatus.LimitReached, refused.Status);
    }

    [Fact]
    public async Task A_stranger_and_a_device_nobody_listens_for_are_refused()
    {
        using var cancel = new CancellationTokenSource(Timeout);
        await using var control = await RelayClient.OpenAsync(_relay.EndPoint, _network, RelayRole.Listen, _b, RelayClient.NoSubject, cancel.Token);

        // Another network's key proves membership of another network: B is not listening there.
        var stranger = await Assert.ThrowsAsync<RelayRefusedException>(() => RelayClient.OpenAsync(_relay.EndPoint, _stranger, RelayRole.Connect, _a, _b.Value.ToArray(), cancel.Token));
        Assert.Equal(RelayStatus.Unavailable, stranger.Status);
        var nobody = await Assert.ThrowsAsync<RelayRefusedException>(() => RelayClient.OpenAsync(_relay.EndPoint, _network, RelayRole.Connect, _b, _a.Value.ToArray(), cancel.Token));
        Assert.Equal(RelayStatus.Unavailable, nobody.Status);
        var noSession = await Assert.ThrowsAsync<RelayRefusedException>(() => RelayClient.OpenAsync(_relay.EndPoint, _network, RelayRole.Accept, _b, RandomNumberGenerator.GetBytes(32), cancel.Token));
        Assert.Equal(RelayStatus.Unavailable, noSession.Status);
        Assert.Equal(0, _relay.ForwardedBytes);
    }

    public async ValueTask DisposeAsync()
    {
        await _relay.DisposeAsync();
        _network.Dispose();
        _stranger.Dispose();
        await _tap.DisposeAsync();
    }
}
