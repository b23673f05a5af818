using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Shoal.Core;

namespace Shoal.Net.Discovery;

/// <summary>
/// The wire form of an <see cref="Announcement"/>: "SHD1" ‖ 12-byte random nonce ‖ AES-256-GCM ciphertext ‖ 16-byte
/// tag, with the magic as associated data. Everything after the magic is encrypted under a key only members can
/// derive, and the nonce is fresh per packet, so a passive listener sees random bytes it can neither read nor link
/// to earlier packets of the same node. Plaintext: u64 unix-ms timestamp, 32-byte device id, u8-length-prefixed
/// UTF-8 name, u8 address count, u8-length-prefixed ASCII addresses. Pure: malformed input is a failed decode, never
/// an exception.
/// </summary>
public static class DiscoveryPacket
{
    public const string KeyPurpose = "discovery v1";
    public const int KeySize = 32;
    public const int MaxPacketSize = 1024;
    public const int MaxNameBytes = 64;
    public const int MaxAddresses = 8;
    public const int MaxAddressLength = 64;
    public const int NonceSize = 12;
    public const int TagSize = 16;

    /// <summary>How far an announcement's clock may be from ours: bounds how long a recorded packet can be replayed.</summary>
    public static readonly TimeSpan ReplayWindow = TimeSpan.FromMinutes(5);

    private const int MagicSize = 4;
    private const int HeaderSize = MagicSize + NonceSize;
    private const int MinPlaintextSize = sizeof(ulong) + Hash256.Size + 1 + 1;

    private static ReadOnlySpan<byte> Magic => "SHD1"u8;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static byte[] DeriveKey(NetworkMembership membership)
    {
        ArgumentNullException.ThrowIfNull(membership);
        return membership.DeriveKey(KeyPurpose, KeySize);
    }

    /// <summary>Throws <see cref="ArgumentException"/> for an announcement outside the limits; see <see cref="Fit"/>.</summary>
    public static byte[] Encode(Announcement announcement, ReadOnlySpan<byte> key, long unixMs)
    {
        ArgumentNullException.ThrowIfNull(announcement);
        if (key.Length != KeySize) throw new ArgumentException($"A discovery key has {KeySize} bytes, not {key.Length}.", nameof(key));
        ArgumentOutOfRangeException.ThrowIfNegative(unixMs);
        if (!IsValidName(announcement.Name, out var error) || !AreValidAddresses(announcement.Addresses, out error))
        {
            throw new ArgumentException($"Invalid announcement: {error}", nameof(announcement));
        }

        var name = Encoding.UTF8.GetBytes(announcement.Name);
        var plaintextSize = MinPlaintextSize + name.Length + announcement.Addresses.Sum(a => 1 + a.Length);
        Span<byte> plaintext = stackalloc byte[plaintextSize];
        BinaryPrimitives.WriteUInt64BigEndian(plaintext, (ulong)unixMs);
        var at = sizeof(ulong);
        announcement.Device.Value.CopyTo(plaintext[at..]);
        at += Hash256.Size;
        plaintext[at++] = (byte)name.Length;
        name.CopyTo(plaintext[at..]);
        at += name.Length;
        plaintext[at++] = (byte)announcement.Addresses.Count;
        foreach (var address in announcement.Addresses)
        {
            plaintext[at++] = (byte)address.Length;
            at += Encoding.ASCII.GetBytes(address, plaintext[at..]);
        }

        var packet = new byte[HeaderSize + plaintextSize + TagSize];
        Magic.CopyTo(packet);
        var nonce = packet.AsSpan(MagicSize, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plaintext, packet.AsSpan(HeaderSize, plaintextSize), packet.AsSpan(HeaderSize + plaintextSize), Magic);
        CryptographicOperations.ZeroMemory(plaintext);
        return packet;
    }

    public static bool TryDecode(
        ReadOnlySpan<byte> packet, ReadOnlySpan<byte> key, long nowUnixMs, out Announcement? announcement, out string error) =>
        TryDecode(packet, key, nowUnixMs, out announcement, out _, out error);

    /// <param name="timestampUnixMs">When the sender made the packet, by its clock; lets a receiver ignore replays of older ones.</param>
    public static bool TryDecode(
        ReadOnlySpan<byte> packet,
        ReadOnlySpan<byte> key,
        long nowUnixMs,
        out Announcement? announcement,
        out long timestampUnixMs,
        out string error)
    {
        announcement = null;
        timestampUnixMs = 0;
        if (key.Length != KeySize)
        {
            error = "wrong key size";
            return false;
        }

        if (packet.Length > MaxPacketSize || packet.Length < HeaderSize + MinPlaintextSize + TagSize)
        {
            error = $"size {packet.Length} out of range";
            return false;
        }

        if (!packet[..MagicSize].SequenceEqual(Magic))
        {
            error = "not a discovery packet";
            return false;
        }

        var plaintextSize = packet.Length - HeaderSize - TagSize;
        Span<byte> plaintext = stackalloc byte[plaintextSize];
        try
        {
            using var aes = new AesGcm(key, TagSize);
            aes.Decrypt(packet.Slice(MagicSize, NonceSize), packet.Slice(HeaderSize, plaintextSize), packet[^TagSize..], plaintext, Magic);
        }
        catch (AuthenticationTagMismatchException)
        {
            error = "not authentic (another network, or damaged)";
            return false;
        }

        return TryReadPlaintext(plaintext, nowUnixMs, out announcement, out timestampUnixMs, out error);
    }

    /// <summary>
    /// The announcement cut to what a packet holds: the name trimmed to <see cref="MaxNameBytes"/> on a character
    /// boundary without control characters, and the first <see cref="MaxAddresses"/> valid addresses. A node with
    /// many interfaces still announces, and receivers replace unspecified addresses with the source anyway.
    /// </summary>
    public static Announcement Fit(Announcement announcement)
    {
        ArgumentNullException.ThrowIfNull(announcement);
        var name = new StringBuilder();
        var nameBytes = 0;
        foreach (var rune in announcement.Name.EnumerateRunes())
        {
            if (Rune.IsControl(rune)) continue;
            if (nameBytes + rune.Utf8SequenceLength > MaxNameBytes) break;
            nameBytes += rune.Utf8SequenceLength;
            name.Append(rune.ToString());
        }

        var addresses = announcement.Addresses.Where(IsValidAddress).Distinct(StringComparer.Ordinal).Take(MaxAddresses).ToList();
        return announcement with { Name = name.ToString(), Addresses = addresses };
    }

    private static bool TryReadPlaintext(
        ReadOnlySpan<byte> plaintext, long nowUnixMs, out Announcement? announcement, out long timestampUnixMs, out string error)
    {
        announcement = null;
        timestampUnixMs = 0;
        const string Malformed = "malformed fields";
        var timestamp = BinaryPrimitives.ReadUInt64BigEndian(plaintext);
        var skew = (Int128)timestamp - nowUnixMs;
        if (skew > (Int128)ReplayWindow.TotalMilliseconds || skew < -(Int128)ReplayWindow.TotalMilliseconds)
        {
            error = "timestamp outside the replay window";
            return false;
        }

        var rest = plaintext[sizeof(ulong)..];
        var device = DeviceId.FromBytes(rest[..Hash256.Size]);
        rest = rest[Hash256.Size..];
        if (device.Value.IsZero || !TryReadField(ref rest, MaxNameBytes, out var nameBytes) || rest.IsEmpty)
        {
            error = Malformed;
            return false;
        }

        string name;
        try
        {
            name = StrictUtf8.GetString(nameBytes);
        }
        catch (DecoderFallbackException)
        {
            error = Malformed;
            return false;
        }

        var count = rest[0];
        rest = rest[1..];
        if (!IsValidName(name, out _) || count > MaxAddresses)
        {
            error = Malformed;
            return false;
        }

        var addresses = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            if (!TryReadField(ref rest, MaxAddressLength, out var addressBytes) || !IsAsciiAddress(addressBytes))
            {
                error = Malformed;
                return false;
            }

            var address = Encoding.ASCII.GetString(addressBytes);
            if (!IsValidAddress(address))
            {
                error = Malformed;
                return false;
            }

            addresses.Add(address);
        }

        if (!rest.IsEmpty)
        {
            error = "trailing bytes";
            return false;
        }

        announcement = new Announcement(device, name, addresses);
        timestampUnixMs = (long)timestamp;
        error = "";
        return true;
    }

    private static bool TryReadField(ref ReadOnlySpan<byte> rest, int maxLength, out ReadOnlySpan<byte> field)
    {
        field = default;
        if (rest.IsEmpty || rest[0] > maxLength || rest.Length < 1 + rest[0]) return false;
        field = rest.Slice(1, rest[0]);
        rest = rest[(1 + rest[0])..];
        return true;
    }

    private static bool IsAsciiAddress(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            if (b is < 0x21 or > 0x7e) return false;
        }

        return true;
    }

    private static bool IsValidName(string? name, out string error)
    {
        if (name is null || Encoding.UTF8.GetByteCount(name) > MaxNameBytes || name.Any(char.IsControl))
        {
            error = $"the name must be at most {MaxNameBytes} UTF-8 bytes without control characters";
            return false;
        }

        error = "";
        return true;
    }

    private static bool AreValidAddresses(IReadOnlyList<string>? addresses, out string error)
    {
        if (addresses is null || addresses.Count > MaxAddresses || !addresses.All(IsValidAddress))
        {
            error = $"at most {MaxAddresses} addresses of the form host:port, each at most {MaxAddressLength} characters";
            return false;
        }

        error = "";
        return true;
    }

    private static bool IsValidAddress(string? address) =>
        address is not null && address.Length <= MaxAddressLength && InviteCode.TryParseAddress(address, out _);
}
