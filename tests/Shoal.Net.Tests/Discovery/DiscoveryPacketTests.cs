using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Shoal.Core;
using Shoal.Net.Discovery;

namespace Shoal.Net.Tests.Discovery;

public sealed class DiscoveryPacketTests
{
    private const long Now = 1_780_000_000_000;

    private static readonly DeviceId Device = DeviceId.FromCertificate("discovery test certificate"u8);
    private static readonly string[] Addresses = ["192.0.2.7:7420", "[2001:db8::1]:7420", "0.0.0.0:7420", "[::]:7420", "node.example:7420"];

    private readonly byte[] _key = DiscoveryPacket.DeriveKey(NetworkMembership.CreateNew());
    private readonly Announcement _announcement = new(Device, "Zoë's laptop", Addresses);

    [Fact]
    public void RoundTripsEveryField()
    {
        var packet = DiscoveryPacket.Encode(_announcement, _key, Now);

        Assert.True(DiscoveryPacket.TryDecode(packet, _key, Now, out var decoded, out var timestamp, out var error), error);
        Assert.Equal(Device, decoded!.Device);
        Assert.Equal("Zoë's laptop", decoded.Name);
        Assert.Equal(Addresses, decoded.Addresses);
        Assert.Equal(Now, timestamp);
        Assert.True(packet.Length <= DiscoveryPacket.MaxPacketSize);
        Assert.Equal("SHD1"u8.ToArray(), packet[..4]);
    }

    [Fact]
    public void TheLargestAnnouncementFitsInAPacket()
    {
        var name = new string('n', DiscoveryPacket.MaxNameBytes);
        var addresses = Enumerable.Range(0, DiscoveryPacket.MaxAddresses)
            .Select(i => new string('a', DiscoveryPacket.MaxAddressLength - 7) + $".{i}:7420")
            .ToList();
        var packet = DiscoveryPacket.Encode(new Announcement(Device, name, addresses), _key, Now);

        Assert.True(packet.Length <= DiscoveryPacket.MaxPacketSize);
        Assert.True(DiscoveryPacket.TryDecode(packet, _key, Now, out var decoded, out var error), error);
        Assert.Equal(addresses, decoded!.Addresses);
    }

    [Fact]
    public void AnotherNetworksKeyIsRejected()
    {
        var packet = DiscoveryPacket.Encode(_announcement, _key, Now);
        var otherKey = DiscoveryPacket.DeriveKey(NetworkMembership.CreateNew());

        Assert.False(DiscoveryPacket.TryDecode(packet, otherKey, Now, out var decoded, out _));
        Assert.Null(decoded);
    }

    [Fact]
    public void EverySingleBitFlipIsRejected()
    {
        var packet = DiscoveryPacket.Encode(_announcement, _key, Now);
        for (var bit = 0; bit < packet.Length * 8; bit++)
        {
            var damaged = (byte[])packet.Clone();
            damaged[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(DiscoveryPacket.TryDecode(damaged, _key, Now, out _, out _), $"bit {bit}");
        }
    }

    [Fact]
    public void TruncatedExtendedOversizedAndGarbagePacketsAreRejected()
    {
        var packet = DiscoveryPacket.Encode(_announcement, _key, Now);
        for (var length = 0; length < packet.Length; length++)
        {
            Assert.False(DiscoveryPacket.TryDecode(packet.AsSpan(0, length), _key, Now, out _, out _), $"length {length}");
        }

        Assert.False(DiscoveryPacket.TryDecode([.. packet, 0], _key, Now, out _, out _));

        var oversized = new byte[DiscoveryPacket.MaxPacketSize + 1];
        "SHD1"u8.CopyTo(oversized);
        Assert.False(DiscoveryPacket.TryDecode(oversized, _key, Now, out _, out var error));
        Assert.Contains("size", error, StringComparison.Ordinal);

        var garbage = RandomNumberGenerator.GetBytes(200);
        "SHD1"u8.CopyTo(garbage);
        Assert.False(DiscoveryPacket.TryDecode(garbage, _key, Now, out _, out _));

        var wrongMagic = (byte[])packet.Clone();
        wrongMagic[3] = (byte)'2';
        Assert.False(DiscoveryPacket.TryDecode(wrongMagic, _key, Now, out _, out error));
        Assert.Equal("not a discovery packet", error);
    }

    [Theory]
    [InlineData(-300_001, false)]
    [InlineData(-300_000, true)]
    [InlineData(300_000, true)]
    [InlineData(300_001, false)]
    public void TimestampsOutsideTheReplayWindowAreRejected(long offset, bool accepted)
    {
        var packet = DiscoveryPacket.Encode(_announcement, _key, Now + offset);

        Assert.Equal(accepted, DiscoveryPacket.TryDecode(packet, _key, Now, out _, out _));
    }

    [Fact]
    public void AuthenticMalformedPlaintextsAreRejected()
    {
        var valid = Plaintext(Device.Value.ToArray(), "node"u8.ToArray(), ["192.0.2.1:1"]);
        Assert.True(DiscoveryPacket.TryDecode(Seal(valid), _key, Now, out _, out var error), error);

        byte[][] malformed =
        [
            [.. valid, 0],
            valid[..^1],
            Plaintext(new byte[Hash256.Size], "node"u8.ToArray(), []),
            Plaintext(Device.Value.ToArray(), [0xc3, 0x28], []),
            Plaintext(Device.Value.ToArray(), "line\nbreak"u8.ToArray(), []),
            Plaintext(Device.Value.ToArray(), Encoding.UTF8.GetBytes(new string('n', DiscoveryPacket.MaxNameBytes + 1)), []),
            Plaintext(Device.Value.ToArray(), "n"u8.ToArray(), [.. Enumerable.Repeat("192.0.2.1:1", DiscoveryPacket.MaxAddresses + 1)]),
            Plaintext(Device.Value.ToArray(), "n"u8.ToArray(), ["192.0.2.1"]),
            Plaintext(Device.Value.ToArray(), "n"u8.ToArray(), ["192.0.2.1:0"]),
            Plaintext(Device.Value.ToArray(), "n"u8.ToArray(), ["192.0.2.1:70000"]),
            Plaintext(Device.Value.ToArray(), "n"u8.ToArray(), ["[2001:db8::1:7420"]),
            Plaintext(Device.Value.ToArray(), "n"u8.ToArray(), ["bad host:1"]),
            Plaintext(Device.Value.ToArray(), "n"u8.ToArray(), [new string('a', DiscoveryPacket.MaxAddressLength - 1) + ":1"]),
        ];

        foreach (var plaintext in malformed)
        {
            Assert.False(DiscoveryPacket.TryDecode(Seal(plaintext), _key, Now, out _, out error), Convert.ToHexString(plaintext));
            Assert.NotEqual("", error);
        }
    }

    [Fact]
    public void SeededMutationFuzzNeverThrows()
    {
        var random = new Random(20261121);
        var packet = DiscoveryPacket.Encode(_announcement, _key, Now);
        var plaintext = Plaintext(Device.Value.ToArray(), "fuzz"u8.ToArray(), ["192.0.2.1:7420", "[::]:7420"]);
        var decoded = 0;
        for (var i = 0; i < 10_000; i++)
        {
            // Half the inputs mutate the sealed packet (exercising the envelope), half mutate the plaintext and seal
            // it properly (exercising the field parser behind the authentication).
            var input = i % 2 == 0 ? Seal(Mutate(plaintext, random)) : Mutate(packet, random);
            if (DiscoveryPacket.TryDecode(input, _key, Now, out var announcement, out var error))
            {
                decoded++;
                Assert.NotNull(announcement);
                DiscoveryPacket.Encode(announcement, _key, Now);
            }
            else
            {
                Assert.Null(announcement);
                Assert.NotEqual("", error);
            }
        }

        Assert.True(decoded > 0, "no mutated plaintext was valid: the fuzz never reached a whole parse");
    }

    [Fact]
    public void APassiveListenerSeesNoStableBytesBeyondTheMagic()
    {
        var packets = Enumerable.Range(0, 16).Select(_ => DiscoveryPacket.Encode(_announcement, _key, Now)).ToList();
        var listenerKey = DiscoveryPacket.DeriveKey(NetworkMembership.CreateNew());

        foreach (var packet in packets)
        {
            Assert.False(DiscoveryPacket.TryDecode(packet, listenerKey, Now, out var learned, out _));
            Assert.Null(learned);
            Assert.False(packet.AsSpan().IndexOf(Device.Value.ToArray()) >= 0);
            // The whole name: a two-byte fragment turns up in random ciphertext about once in 25 runs.
            Assert.False(packet.AsSpan().IndexOf("Zoë's laptop"u8) >= 0);
        }

        for (var position = 4; position < packets[0].Length; position++)
        {
            Assert.True(packets.Select(p => p[position]).Distinct().Count() > 1, $"byte {position} is the same in every packet");
        }
    }

    [Fact]
    public void TheKeyIsSharedByMembersAndDiffersBetweenNetworks()
    {
        var membership = NetworkMembership.CreateNew();
        var sameNetwork = new NetworkMembership(membership.Network, membership.Secret);

        Assert.Equal(DiscoveryPacket.DeriveKey(membership), DiscoveryPacket.DeriveKey(sameNetwork));
        Assert.NotEqual(DiscoveryPacket.DeriveKey(membership), DiscoveryPacket.DeriveKey(NetworkMembership.CreateNew()));
        Assert.NotEqual(DiscoveryPacket.DeriveKey(membership), membership.Secret.ToArray());
    }

    [Fact]
    public void EncodeRefusesWhatDoesNotFitAndFitMakesItFit()
    {
        var tooMany = Enumerable.Range(1, DiscoveryPacket.MaxAddresses + 2).Select(i => $"192.0.2.{i}:7420").ToList();
        var longName = string.Concat(Enumerable.Repeat("é", DiscoveryPacket.MaxNameBytes));
        var unfit = new Announcement(Device, "\u0007" + longName, [.. tooMany, "not an address"]);

        Assert.Throws<ArgumentException>(() => DiscoveryPacket.Encode(unfit, _key, Now));
        Assert.Throws<ArgumentException>(() => DiscoveryPacket.Encode(_announcement, new byte[16], Now));

        var fitted = DiscoveryPacket.Fit(unfit);
        Assert.Equal(DiscoveryPacket.MaxNameBytes, Encoding.UTF8.GetByteCount(fitted.Name));
        Assert.DoesNotContain('\u0007', fitted.Name);
        Assert.Equal(tooMany.Take(DiscoveryPacket.MaxAddresses), fitted.Addresses);
        Assert.True(DiscoveryPacket.TryDecode(DiscoveryPacket.Encode(fitted, _key, Now), _key, Now, out _, out var error), error);
    }

    private static byte[] Mutate(byte[] input, Random random)
    {
        var bytes = new List<byte>(input);
        var mutations = random.Next(1, 6);
        for (var m = 0; m < mutations; m++)
        {
            switch (random.Next(6))
            {
                case 0 when bytes.Count > 0:
                    bytes[random.Next(bytes.Count)] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when bytes.Count > 0:
                    bytes[random.Next(bytes.Count)] = (byte)random.Next(256);
                    break;
                case 2 when bytes.Count > 0:
                    bytes.RemoveRange(random.Next(bytes.Count), 1);
                    break;
                case 3:
                    bytes.Insert(random.Next(bytes.Count + 1), (byte)random.Next(256));
                    break;
                case 4 when bytes.Count > 0:
                    var cut = random.Next(bytes.Count);
                    bytes.RemoveRange(cut, bytes.Count - cut);
                    break;
                default:
                    var garbage = new byte[random.Next(0, 1100)];
                    random.NextBytes(garbage);
                    bytes.AddRange(garbage.Take(Math.Max(0, 1100 - bytes.Count)));
                    break;
            }
        }

        return [.. bytes];
    }

    private static byte[] Plaintext(byte[] device, byte[] name, string[] addresses)
    {
        var plaintext = new List<byte>();
        var timestamp = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(timestamp, Now);
        plaintext.AddRange(timestamp);
        plaintext.AddRange(device);
        plaintext.Add((byte)name.Length);
        plaintext.AddRange(name);
        plaintext.Add((byte)addresses.Length);
        foreach (var address in addresses)
        {
            plaintext.Add((byte)address.Length);
            plaintext.AddRange(Encoding.ASCII.GetBytes(address));
        }

        return [.. plaintext];
    }

    // Seals any plaintext the way a member would, so tests reach the field parser behind the authentication.
    private byte[] Seal(byte[] plaintext)
    {
        var packet = new byte[4 + DiscoveryPacket.NonceSize + plaintext.Length + DiscoveryPacket.TagSize];
        "SHD1"u8.CopyTo(packet);
        RandomNumberGenerator.Fill(packet.AsSpan(4, DiscoveryPacket.NonceSize));
        using var aes = new AesGcm(_key, DiscoveryPacket.TagSize);
        aes.Encrypt(
            packet.AsSpan(4, DiscoveryPacket.NonceSize),
            plaintext,
            packet.AsSpan(4 + DiscoveryPacket.NonceSize, plaintext.Length),
            packet.AsSpan(4 + DiscoveryPacket.NonceSize + plaintext.Length),
            "SHD1"u8);
        return packet;
    }
}
