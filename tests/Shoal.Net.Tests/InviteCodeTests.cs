using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;
using Shoal.Core;

namespace Shoal.Net.Tests;

public sealed class InviteCodeTests
{
    private static readonly DeviceId Inviter = DeviceId.FromCertificate("inviter certificate"u8);
    private static readonly string[] Addresses = ["192.0.2.7:22000", "[2001:db8::1]:22000", "[::1]:4242", "node.example.org:22000"];

    // 249 characters in DNS-sized labels: with ":nnnnn" exactly the longest address an invite holds.
    private static readonly string LongHostName = string.Join('.', Enumerable.Repeat(new string('a', 49), 5));

    private readonly NetworkMembership _membership = NetworkMembership.CreateNew();

    [Fact]
    public void RoundTripsEveryField()
    {
        var invite = new InviteCode(_membership, Inviter, "Zoë's laptop", Addresses);

        var text = invite.Encode();
        var parsed = InviteCode.Parse(text);

        Assert.StartsWith(InviteCode.Prefix, text);
        Assert.DoesNotContain(text, char.IsWhiteSpace);
        Assert.Equal(_membership.Network, parsed.Network);
        Assert.Equal(_membership.Secret.ToArray(), parsed.Membership.Secret.ToArray());
        Assert.Equal(Inviter, parsed.Inviter);
        Assert.Equal("Zoë's laptop", parsed.InviterName);
        Assert.Equal(Addresses, parsed.Addresses);
    }

    [Fact]
    public void IPv6AddressesSurviveAndParseAsEndpoints()
    {
        var parsed = InviteCode.Parse(new InviteCode(_membership, Inviter, "n", ["[2001:db8::42]:22000", "[::1]:1"]).Encode());

        Assert.Equal(["[2001:db8::42]:22000", "[::1]:1"], parsed.Addresses);
        Assert.True(InviteCode.TryParseAddress(parsed.Addresses[0], out var endPoint));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::42"), 22000), endPoint);
    }

    [Fact]
    public void EmptyNameAndNoAddressesRoundTrip()
    {
        var parsed = InviteCode.Parse(new InviteCode(_membership, Inviter, "", []).Encode());

        Assert.Equal("", parsed.InviterName);
        Assert.Empty(parsed.Addresses);
    }

    [Fact]
    public void ToleratesCaseWhitespaceAndLineBreaks()
    {
        var text = new InviteCode(_membership, Inviter, "n", Addresses).Encode();
        var wrapped = "  \n" + text[..40].ToUpperInvariant() + "\r\n  " + text[40..] + " \t\n";

        Assert.True(InviteCode.TryParse(wrapped, out var parsed, out var error), error);
        Assert.Equal(Inviter, parsed.Inviter);
    }

    [Fact]
    public void OneChangedCharacterIsReportedAsMistyped()
    {
        var text = new InviteCode(_membership, Inviter, "n", Addresses).Encode();
        for (var i = InviteCode.Prefix.Length + 5; i < text.Length - 1; i += 7)
        {
            var changed = text[i] == 'a' ? 'b' : 'a';
            var typo = text[..i] + changed + text[(i + 1)..];

            Assert.False(InviteCode.TryParse(typo, out _, out var error));
            Assert.Contains("checksum", error);
        }
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("hello world")]
    [InlineData("shoal:abcdefgh")]
    [InlineData("https://example.org/shoal-invite:abc")]
    public void TextThatIsNotAnInviteIsSaidToBeNone(string? text)
    {
        Assert.False(InviteCode.TryParse(text, out _, out var error));
        Assert.Contains("not a Shoal invite", error);
    }

    [Fact]
    public void ForeignCharactersAreReported()
    {
        var text = new InviteCode(_membership, Inviter, "n", Addresses).Encode();

        Assert.False(InviteCode.TryParse(text[..30] + "!" + text[31..], out _, out var error));
        Assert.Contains("'!'", error);
        Assert.Contains("mistyped", error);
    }

    [Fact]
    public void TruncatedInvitesAreReportedAsTruncated()
    {
        var text = new InviteCode(_membership, Inviter, "n", Addresses).Encode();
        for (var cut = 1; cut < text.Length - InviteCode.Prefix.Length; cut++)
        {
            Assert.False(InviteCode.TryParse(text[..^cut], out _, out var error));
            Assert.Contains("truncated", error);
        }
    }

    [Fact]
    public void FutureVersionIsReportedAsUnsupported()
    {
        var text = new InviteCode(_membership, Inviter, "n", Addresses).Encode();
        Assert.True(Base32.TryDecode(text.AsSpan(InviteCode.Prefix.Length), out var payload));
        payload[0] = 2;
        SHA256.HashData(payload.AsSpan(0, payload.Length - 4)).AsSpan(0, 4).CopyTo(payload.AsSpan(payload.Length - 4));

        Assert.False(InviteCode.TryParse(InviteCode.Prefix + Base32.Encode(payload), out _, out var error));
        Assert.Contains("version 2", error);
    }

    [Fact]
    public void ExtraBytesAreReportedAsCorrupted()
    {
        var text = new InviteCode(_membership, Inviter, "n", Addresses).Encode();
        Assert.True(Base32.TryDecode(text.AsSpan(InviteCode.Prefix.Length), out var payload));

        Assert.False(InviteCode.TryParse(InviteCode.Prefix + Base32.Encode([.. payload, 0, 0, 0, 0, 0]), out _, out var error));
        Assert.Contains("corrupted", error);
    }

    [Fact]
    public void WellSealedButMalformedBodyIsReported()
    {
        // Right envelope and checksum around a body that ends inside the name: only a broken encoder makes this.
        var body = new byte[NetworkId.Size + NetworkMembership.SecretSize + Hash256.Size + 2];
        body[^2] = 50;
        var payload = new byte[3 + body.Length + 4];
        payload[0] = InviteCode.FormatVersion;
        BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(1), (ushort)payload.Length);
        body.CopyTo(payload, 3);
        SHA256.HashData(payload.AsSpan(0, payload.Length - 4)).AsSpan(0, 4).CopyTo(payload.AsSpan(payload.Length - 4));

        Assert.False(InviteCode.TryParse(InviteCode.Prefix + Base32.Encode(payload), out _, out var error));
        Assert.Contains("malformed", error);
    }

    [Fact]
    public void ParseThrowsWithTheSameMessage()
    {
        var error = Assert.Throws<FormatException>(() => InviteCode.Parse("nonsense"));
        Assert.Contains("not a Shoal invite", error.Message);
    }

    [Fact]
    public void AbsurdInvitesCannotBeMade()
    {
        var tooMany = Enumerable.Range(1, InviteCode.MaxAddresses + 1).Select(i => $"10.0.0.{i}:22000").ToArray();
        var tooLong = new string('a', InviteCode.MaxAddressLength) + ":1";

        Assert.Throws<ArgumentException>(() => new InviteCode(_membership, Inviter, "n", tooMany));
        Assert.Throws<ArgumentException>(() => new InviteCode(_membership, Inviter, "n", [tooLong]));
        Assert.Throws<ArgumentException>(() => new InviteCode(_membership, Inviter, "n", ["::1:22000"]));
        Assert.Throws<ArgumentException>(() => new InviteCode(_membership, Inviter, new string('x', InviteCode.MaxNameBytes + 1), []));
        Assert.Throws<ArgumentException>(() => new InviteCode(_membership, Inviter, "line\nbreak", []));
        var largest = new InviteCode(
            _membership,
            Inviter,
            new string('x', InviteCode.MaxNameBytes),
            Enumerable.Range(1, InviteCode.MaxAddresses).Select(i => LongHostName + $":{10000 + i}").ToArray());
        Assert.Equal(largest.Addresses, InviteCode.Parse(largest.Encode()).Addresses);
    }

    [Theory]
    [InlineData("127.0.0.1:22000", "127.0.0.1", 22000)]
    [InlineData("[::1]:22000", "::1", 22000)]
    [InlineData("[fe80::1:2]:65535", "fe80::1:2", 65535)]
    public void IpAddressesParseToIpEndpoints(string text, string address, int port)
    {
        Assert.True(InviteCode.TryParseAddress(text, out var endPoint));
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), endPoint);
    }

    [Fact]
    public void HostNamesParseToDnsEndpoints()
    {
        Assert.True(InviteCode.TryParseAddress("node-1.example.org:22000", out var endPoint));
        Assert.Equal(new DnsEndPoint("node-1.example.org", 22000), endPoint);
    }

    [Theory]
    [InlineData("")]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:")]
    [InlineData("127.0.0.1:0")]
    [InlineData("127.0.0.1:65536")]
    [InlineData("127.0.0.1:+80")]
    [InlineData(":22000")]
    [InlineData("::1:22000")]
    [InlineData("[::1]")]
    [InlineData("[127.0.0.1]:22000")]
    [InlineData("[not-v6]:22000")]
    [InlineData("host name:22000")]
    [InlineData("hôte:22000")]
    public void InvalidAddressesAreRejected(string text) => Assert.False(InviteCode.TryParseAddress(text, out _));
}
