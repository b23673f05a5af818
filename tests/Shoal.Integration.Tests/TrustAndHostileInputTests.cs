using System.Buffers.Binary;
using Shoal.Core;
using Shoal.Integration.Tests.Support;
using Shoal.Net;
using Shoal.Net.Connections;
using Shoal.Protocol;

namespace Shoal.Integration.Tests;

public sealed class TrustAndHostileInputTests
{
    [Fact]
    public async Task A_node_of_another_network_is_refused_and_receives_no_content()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        var shared = await a.ShareAsync(TestFiles.Create(a.Directory.Combine("src", "secret.bin"), 2 * 1024 * 1024, seed: 11));
        await using var stranger = await TestNode.StartFoundingAsync("stranger");

        var refusal = await Assert.ThrowsAsync<HandshakeException>(() => stranger.Node.Connections.DialAsync(a.Address, CancellationToken.None));

        Assert.Equal(CloseReason.NotAMember, refusal.Reason);
        Assert.Contains("not a member", refusal.Message, StringComparison.Ordinal);
        Assert.Empty(a.Node.Connections.Connections);
        Assert.Empty(stranger.Node.Availability.HoldersOf(FileId.Parse(shared.Id)));
        Assert.Equal(0, a.Node.UploadedBytes);
    }

    [Fact]
    public async Task A_wrong_secret_for_the_right_network_gets_only_a_hello_and_a_refusal()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        await a.ShareAsync(TestFiles.Create(a.Directory.Combine("src", "secret.bin"), 1024 * 1024, seed: 12));
        await using var raw = await RawPeer.ConnectAsync(a);
        var impostor = new NetworkMembership(a.Node.Membership.Network, new byte[NetworkMembership.SecretSize]);

        await raw.HandshakeAsync(a, impostor);
        var received = await raw.ReadUntilClosedAsync();

        var close = Assert.IsType<Close>(Assert.Single(received));
        Assert.Equal(CloseReason.NotAMember, close.Reason);
        Assert.Empty(a.Node.Connections.Connections);
    }

    public static TheoryData<string> HostileFrames => new()
    {
        "oversized-length",
        "zero-length",
        "unknown-type",
        "bad-utf8-close",
        "chunk-index-overflow",
        "request-flood",
        "truncated-then-eof",
    };

    [Theory]
    [MemberData(nameof(HostileFrames))]
    public async Task Hostile_frames_close_only_that_connection_and_the_node_keeps_serving(string attack)
    {
        await using var a = await TestNode.StartFoundingAsync("a", uploadLimit: 32 * 1024 * 1024);
        await using var b = await TestNode.StartJoiningAsync("b", a);
        var path = TestFiles.Create(a.Directory.Combine("src", "file.bin"), 16 * 1024 * 1024, seed: 13);
        var shared = await a.ShareAsync(path);
        await b.WaitForHoldersAsync(FileId.Parse(shared.Id), 1);
        var download = await b.StartDownloadAsync(shared.Link);

        await using var raw = await RawPeer.ConnectAsync(a);
        await raw.HandshakeAsync(a, a.Node.Membership);
        await Eventually.TrueAsync(() => a.Node.Connections.Connections.Count == 2, "the attacker to be admitted");
        await raw.SendAsync(Attack(attack, FileId.Parse(shared.Id)));
        if (attack == "truncated-then-eof") await raw.CloseWriteAsync();
        var received = await raw.ReadUntilClosedAsync();

        if (attack != "truncated-then-eof")
        {
            var close = Assert.IsType<Close>(received[^1]);
            Assert.Equal(CloseReason.ProtocolError, close.Reason);
        }

        if (attack != "request-flood") Assert.DoesNotContain(received, m => m is ChunkResponse);
        await Eventually.TrueAsync(() => a.Node.Connections.Connections.Count == 1, "the attacker's connection to be dropped");
        var done = await Eventually.ValueAsync(async () => await b.TransferAsync(download.Id) is { State: "completed" } t ? t : null, "B's download to finish");
        Assert.Equal(TestFiles.Sha256(path), TestFiles.Sha256(done.Path!));
        Assert.True(a.Node.Connections.Get(b.Node.DeviceId)!.IsOpen);
    }

    private static byte[] Attack(string attack, FileId file)
    {
        switch (attack)
        {
            case "oversized-length":
                return Header(uint.MaxValue, MessageType.ChunkResponse);
            case "zero-length":
                return [0, 0, 0, 0];
            case "unknown-type":
                return [.. Header(5, (MessageType)0x7F), 1, 2, 3, 4];
            case "bad-utf8-close":
                return [.. Header(1 + 2 + 2 + 2, MessageType.Close), 0, 0, 0, 2, 0xC3, 0x28];
            case "chunk-index-overflow":
                {
                    var frame = FrameCodec.Encode(new ChunkRequest(1, file, 0));
                    BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(frame.Length - 4), 0xFFFFFFFF);
                    return frame;
                }

            case "request-flood":
                return [.. Enumerable.Range(0, PeerConnection.MaxPeerRequests * 4).SelectMany(i => FrameCodec.Encode(new ChunkRequest((uint)i + 1, file, 0)))];
            case "truncated-then-eof":
                return Header(100, MessageType.Inventory);
            default:
                throw new ArgumentOutOfRangeException(nameof(attack));
        }
    }

    private static byte[] Header(uint length, MessageType type)
    {
        var header = new byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(header, length);
        header[4] = (byte)type;
        return header;
    }

    [Fact]
    public async Task Garbage_instead_of_a_hello_is_refused_without_content()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        await a.ShareAsync(TestFiles.Create(a.Directory.Combine("src", "f.bin"), 1024 * 1024, seed: 14));
        await using var raw = await RawPeer.ConnectAsync(a);

        await raw.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        var received = await raw.ReadUntilClosedAsync();

        Assert.All(received, m => Assert.True(m is Hello or Close, $"unexpected {m.Type}"));
        Assert.Empty(a.Node.Connections.Connections);
    }

    [Fact]
    public async Task A_member_offering_a_manifest_that_does_not_hash_to_the_link_is_not_believed()
    {
        await using var a = await TestNode.StartFoundingAsync("a");
        await using var b = await TestNode.StartJoiningAsync("b", a);
        var wanted = await FileIndexer.IndexFileAsync(TestFiles.Create(a.Directory.Combine("src", "wanted.bin"), 1024 * 1024, seed: 15), null, CancellationToken.None);
        var other = TestFiles.Create(a.Directory.Combine("src", "other.bin"), 1024 * 1024, seed: 16);
        var otherManifest = await FileIndexer.IndexFileAsync(other, null, CancellationToken.None);
        await using var liar = await ScriptedPeer.ConnectAsync(b, a.Node.Membership, "liar", other, otherManifest, offeredAs: wanted.Id);
        await b.WaitForHoldersAsync(wanted.Id, 1);

        var download = await b.StartDownloadAsync(new ShoalLink(wanted.Id, "wanted.bin").ToString());

        var refused = await Eventually.ValueAsync(
            async () => await b.TransferAsync(download.Id) is { Error: { } error } t && error.Contains("does not match the file id", StringComparison.Ordinal) ? t : null,
            "b to refuse the liar's manifest");
        Assert.Equal("waiting", refused.State);
        Assert.Equal(0, liar.ChunksServed);
        Assert.False(Directory.Exists(b.Downloads) && Directory.EnumerateFileSystemEntries(b.Downloads).Any(), "nothing is written under any name");
    }
}
