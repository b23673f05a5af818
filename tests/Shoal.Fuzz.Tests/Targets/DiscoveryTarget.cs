using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Shoal.Core;
using Shoal.Fuzz.Tests.Engine;
using Shoal.Net.Discovery;
using Shoal.Protocol.Tests;

namespace Shoal.Fuzz.Tests.Targets;

/// <summary>
/// LAN discovery packets. A packet is authenticated (AES-GCM), so mutating one only ever tests that damage is
/// refused; the plaintext parser behind the tag is private. We hold the network key, though, so the target seals
/// mutated plaintexts itself and reaches that parser through the public <see cref="DiscoveryPacket.TryDecode"/>.
/// An input is a mode byte and a packet: mode bit 0 clear seals the packet first (its bytes after the 4-byte magic
/// and the 12-byte nonce, up to the last 16, are the plaintext, and the tag is computed over them); set sends the
/// bytes as they are, which must be refused unless they are a packet the seeds sealed. Whatever is accepted must
/// encode again (<see cref="DiscoveryPacket.Encode"/>) and decode back to the same announcement.
/// </summary>
internal sealed class DiscoveryTarget : ByteTarget
{
    public const long Now = 1_767_268_800_000;

    private const int MagicSize = 4;
    private const int HeaderSize = MagicSize + DiscoveryPacket.NonceSize;
    private const byte Seal = 0;
    private const byte Raw = 1;

    private static readonly byte[] Magic = "SHD1"u8.ToArray();

    private readonly byte[] _key = DiscoveryPacket.DeriveKey(Corpus.Membership);
    private readonly HashSet<string> _sealedSeeds = new(StringComparer.Ordinal);

    public DiscoveryTarget()
    {
        (long Time, DeviceId Device, string Name, string[] Addresses)[] announcements =
        [
            (Now, Corpus.Alice, "laptop", ["0.0.0.0:22000", "[::]:22000"]),
            (Now - 299_000, Corpus.Bob, "", []),
            (Now + 299_000, Corpus.Alice, string.Concat(Enumerable.Repeat("é", DiscoveryPacket.MaxNameBytes / 2)),
                [.. Enumerable.Range(1, DiscoveryPacket.MaxAddresses).Select(i => $"192.168.1.{i}:{i}")]),
            (Now, Corpus.Bob, "🐟 desk", ["[2001:db8::1]:1", "nas.local:65535", string.Join('.', Enumerable.Repeat("host", 11)) + ".e:80"]),
        ];
        var seeds = new List<byte[]>();
        var others = new List<byte[]>();
        for (var i = 0; i < announcements.Length; i++)
        {
            var (time, device, name, addresses) = announcements[i];
            var unsealed = Unsealed(Plaintext(time, device, name, addresses), Samples.Pattern(DiscoveryPacket.NonceSize, 300 + i));
            seeds.Add([Seal, .. unsealed]);
            var packet = SealPacket(unsealed);
            _sealedSeeds.Add(Convert.ToHexString(packet));
            seeds.Add([Raw, .. packet]);
        }

        ValidSeeds = seeds;
        OtherSeeds =
        [
            [Seal, .. Unsealed(Plaintext(Now - 300_001, Corpus.Alice, "stale", []), new byte[DiscoveryPacket.NonceSize])],
            [Seal, .. Unsealed(Plaintext(Now, default, "zero device", []), new byte[DiscoveryPacket.NonceSize])],
            [Raw, .. Magic, .. new byte[DiscoveryPacket.MaxPacketSize]],
        ];
    }

    public override string Name => "discovery";

    public override IReadOnlyList<byte[]> ValidSeeds { get; }

    public override IReadOnlyList<byte[]> OtherSeeds { get; }

    public override int StructuralPercent => 50;

    /// <summary>Mutates only the plaintext, keeping mode, magic, nonce and tag room: the parser sees more, the envelope less.</summary>
    public override byte[]? MutateStructurally(Random random, byte[] input, byte[] other)
    {
        const int start = 1 + HeaderSize;
        if (input.Length < start + DiscoveryPacket.TagSize) return null;
        var end = input.Length - DiscoveryPacket.TagSize;
        var otherPlaintext = other.Length >= start + DiscoveryPacket.TagSize ? other[start..^DiscoveryPacket.TagSize] : other;
        var plaintext = Mutator.Mutate(random, input[start..end], otherPlaintext);
        return [.. input.AsSpan(0, start), .. plaintext, .. input.AsSpan(end)];
    }

    public override Outcome Execute(byte[] input)
    {
        var sealing = input.Length > 0 && (input[0] & 1) == Seal && input.Length >= 1 + HeaderSize + DiscoveryPacket.TagSize;
        var packet = input.Length > 0 ? input[1..] : [];
        if (sealing) packet = SealPacket(packet);
        var mode = sealing ? "sealed" : "raw";
        if (!DiscoveryPacket.TryDecode(packet, _key, Now, out var announcement, out var timestamp, out var error))
        {
            if (string.IsNullOrEmpty(error) || announcement is not null) throw new InvariantViolationException("refused without an error, or with an announcement");
            return Outcome.Refused($"{mode} {Signature.Normalize(error)} {(sealing ? Shape(input.AsSpan(1 + HeaderSize, input.Length - 1 - HeaderSize - DiscoveryPacket.TagSize)) : "")}");
        }

        if (announcement is null) throw new InvariantViolationException("accepted without an announcement");
        if (!sealing && !_sealedSeeds.Contains(Convert.ToHexString(packet)))
        {
            throw new InvariantViolationException("a packet we did not seal was accepted (a forgery)");
        }

        byte[] again;
        try
        {
            again = DiscoveryPacket.Encode(announcement, _key, timestamp);
        }
        catch (ArgumentException e)
        {
            throw new InvariantViolationException($"an accepted announcement does not encode again: {e.Message}");
        }

        if (!DiscoveryPacket.TryDecode(again, _key, Now, out var reparsed, out var timestampAgain, out error)
            || timestampAgain != timestamp
            || reparsed!.Device != announcement.Device
            || reparsed.Name != announcement.Name
            || !reparsed.Addresses.SequenceEqual(announcement.Addresses))
        {
            throw new InvariantViolationException($"an accepted announcement does not survive encoding and decoding again ({error})");
        }

        return Outcome.Accepted($"{mode} ok name {Signature.Bucket(announcement.Name.Length)} addresses {announcement.Addresses.Count}");
    }

    /// <summary>
    /// The parser says only "malformed fields", so the signature adds where the plaintext's own fields point: the
    /// name length, the address count and the first address length, coarsely. Mutants that differ there join the corpus.
    /// </summary>
    private static string Shape(ReadOnlySpan<byte> plaintext)
    {
        const int nameAt = 8 + 32;
        if (plaintext.Length <= nameAt) return $"short {Signature.Bucket(plaintext.Length)}";
        var nameLength = plaintext[nameAt];
        var countAt = nameAt + 1 + nameLength;
        var count = countAt < plaintext.Length ? Math.Min((int)plaintext[countAt], 10).ToString(System.Globalization.CultureInfo.InvariantCulture) : "-";
        var first = countAt + 1 < plaintext.Length ? Signature.Bucket(plaintext[countAt + 1]).ToString(System.Globalization.CultureInfo.InvariantCulture) : "-";
        return $"name {Signature.Bucket(nameLength)} count {count} first {first}";
    }

    public static byte[] Plaintext(long unixMs, DeviceId device, string name, IReadOnlyList<string> addresses)
    {
        var bytes = new List<byte>();
        Span<byte> time = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(time, (ulong)unixMs);
        bytes.AddRange(time);
        bytes.AddRange(device.Value.ToArray());
        var nameBytes = Encoding.UTF8.GetBytes(name);
        bytes.Add((byte)nameBytes.Length);
        bytes.AddRange(nameBytes);
        bytes.Add((byte)addresses.Count);
        foreach (var address in addresses)
        {
            bytes.Add((byte)address.Length);
            bytes.AddRange(Encoding.ASCII.GetBytes(address));
        }

        return [.. bytes];
    }

    /// <summary>Magic, nonce, plaintext and room for the tag: what <see cref="SealPacket"/> seals.</summary>
    private static byte[] Unsealed(byte[] plaintext, byte[] nonce) => [.. Magic, .. nonce, .. plaintext, .. new byte[DiscoveryPacket.TagSize]];

    /// <summary>The packet <see cref="DiscoveryPacket.Encode"/> would send for this plaintext and nonce.</summary>
    private byte[] SealPacket(byte[] unsealed)
    {
        var packet = unsealed.ToArray();
        var plaintextSize = packet.Length - HeaderSize - DiscoveryPacket.TagSize;
        using var aes = new AesGcm(_key, DiscoveryPacket.TagSize);
        aes.Encrypt(
            packet.AsSpan(MagicSize, DiscoveryPacket.NonceSize),
            unsealed.AsSpan(HeaderSize, plaintextSize),
            packet.AsSpan(HeaderSize, plaintextSize),
            packet.AsSpan(HeaderSize + plaintextSize),
            Magic);
        return packet;
    }
}
