using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Shoal.Core;
using Shoal.Protocol;

namespace Shoal.Net;

/// <summary>
/// Everything a new node needs to join a network: the membership (including the secret, so an invite is a
/// credential and must be passed privately), and the inviter's device id, name and addresses to connect to first.
/// <para>
/// Text form: <c>shoal-invite:</c> followed by the base32 of a binary payload. The payload's envelope is the same
/// in every version: u8 version, u16 total length, body, and a 4-byte checksum (SHA-256 of everything before it,
/// truncated) that catches mistyped and damaged invites. Version 1's body: 16-byte network id, 32-byte secret,
/// 32-byte inviter device id, u8-length-prefixed UTF-8 name, u8 address count, u8-length-prefixed ASCII addresses.
/// </para>
/// </summary>
public sealed class InviteCode
{
    public const string Prefix = "shoal-invite:";
    public const byte FormatVersion = 1;
    public const int MaxNameBytes = Hello.MaxNameBytes;
    public const int MaxAddresses = 16;
    public const int MaxAddressLength = 255;

    private const int EnvelopeHeaderSize = 1 + 2;
    private const int ChecksumSize = 4;

    public InviteCode(NetworkMembership membership, DeviceId inviter, string inviterName, IReadOnlyList<string> addresses)
    {
        ArgumentNullException.ThrowIfNull(membership);
        if (!IsValidName(inviterName, out var error) || !AreValidAddresses(addresses, out error))
        {
            throw new ArgumentException($"Invalid invite: {error}");
        }

        Membership = membership;
        Inviter = inviter;
        InviterName = inviterName;
        Addresses = [.. addresses];
    }

    public NetworkMembership Membership { get; }

    public NetworkId Network => Membership.Network;

    /// <summary>The device that made the invite: the joining node should check the first peer it reaches is this one.</summary>
    public DeviceId Inviter { get; }

    public string InviterName { get; }

    /// <summary>"host:port" strings; IPv6 addresses in brackets. See <see cref="TryParseAddress"/>.</summary>
    public IReadOnlyList<string> Addresses { get; }

    public string Encode()
    {
        var name = Encoding.UTF8.GetBytes(InviterName);
        var length = EnvelopeHeaderSize + NetworkId.Size + NetworkMembership.SecretSize + Hash256.Size
            + 1 + name.Length + 1 + Addresses.Sum(a => 1 + a.Length) + ChecksumSize;
        var payload = new byte[length];
        payload[0] = FormatVersion;
        BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(1), (ushort)length);
        var at = EnvelopeHeaderSize;
        Network.CopyTo(payload.AsSpan(at));
        at += NetworkId.Size;
        Membership.Secret.CopyTo(payload.AsSpan(at));
        at += NetworkMembership.SecretSize;
        Inviter.Value.CopyTo(payload.AsSpan(at));
        at += Hash256.Size;
        payload[at++] = (byte)name.Length;
        name.CopyTo(payload, at);
        at += name.Length;
        payload[at++] = (byte)Addresses.Count;
        foreach (var address in Addresses)
        {
            payload[at++] = (byte)address.Length;
            at += Encoding.ASCII.GetBytes(address, payload.AsSpan(at));
        }

        ComputeChecksum(payload.AsSpan(0, at), payload.AsSpan(at));
        return Prefix + Base32.Encode(payload, lowerCase: true);
    }

    public static InviteCode Parse(string text) =>
        TryParse(text, out var invite, out var error) ? invite : throw new FormatException(error);

    /// <summary>Reads an invite, ignoring surrounding whitespace, line breaks inside it and letter case.</summary>
    public static bool TryParse(string? text, out InviteCode invite, out string error)
    {
        invite = null!;
        text = text?.Trim();
        if (string.IsNullOrEmpty(text) || !text.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            error = $"This is not a Shoal invite: an invite starts with '{Prefix}'.";
            return false;
        }

        // Invites pasted from mail or chat often arrive wrapped over several lines.
        var body = new string(text[Prefix.Length..].Where(c => !char.IsWhiteSpace(c)).ToArray());
        foreach (var c in body)
        {
            if (Base32.ValueOf(c) < 0)
            {
                var shown = char.IsControl(c) ? $"U+{(int)c:X4}" : c.ToString();
                error = $"The invite contains '{shown}', which cannot appear in an invite: it was mistyped or damaged.";
                return false;
            }
        }

        if (!Base32.TryDecode(body, out var payload) || payload.Length < EnvelopeHeaderSize + ChecksumSize)
        {
            error = "The invite is incomplete (truncated) or has characters missing: copy the whole invite again.";
            return false;
        }

        var declaredLength = BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(1));
        if (payload.Length < declaredLength)
        {
            error = $"The invite is truncated ({payload.Length} of {declaredLength} bytes): copy the whole invite again.";
            return false;
        }

        if (payload.Length > declaredLength)
        {
            error = "The invite is corrupted: it is longer than it says. Copy it again rather than retyping it.";
            return false;
        }

        Span<byte> checksum = stackalloc byte[ChecksumSize];
        ComputeChecksum(payload.AsSpan(0, payload.Length - ChecksumSize), checksum);
        if (!checksum.SequenceEqual(payload.AsSpan(payload.Length - ChecksumSize)))
        {
            error = "The invite is corrupted or mistyped (its checksum does not match): copy it again rather than retyping it.";
            return false;
        }

        if (payload[0] != FormatVersion)
        {
            error = $"The invite uses format version {payload[0]}, which this version of Shoal does not read: upgrade Shoal.";
            return false;
        }

        return TryReadBody(payload.AsSpan(EnvelopeHeaderSize, payload.Length - EnvelopeHeaderSize - ChecksumSize), out invite, out error);
    }

    /// <summary>
    /// Parses "host:port": an IPv4 address, a bracketed IPv6 address or a DNS name, and a port from 1 to 65535.
    /// The endpoint is an <see cref="IPEndPoint"/> for addresses and a <see cref="DnsEndPoint"/> for names.
    /// </summary>
    public static bool TryParseAddress(string? address, [NotNullWhen(true)] out EndPoint? endPoint)
    {
        endPoint = null;
        if (string.IsNullOrEmpty(address) || address.Length > MaxAddressLength || !address.All(IsAddressCharacter))
        {
            return false;
        }

        var colon = address.LastIndexOf(':');
        if (colon <= 0
            || !ushort.TryParse(address.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            || port == 0)
        {
            return false;
        }

        var host = address[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            if (!IPAddress.TryParse(host.AsSpan(1, host.Length - 2), out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                return false;
            }

            endPoint = new IPEndPoint(v6, port);
            return true;
        }

        switch (Uri.CheckHostName(host))
        {
            case UriHostNameType.IPv4:
                endPoint = new IPEndPoint(IPAddress.Parse(host), port);
                return true;
            case UriHostNameType.Dns:
                endPoint = new DnsEndPoint(host, port);
                return true;
            default:
                return false;
        }
    }

    // Letters, digits, dots and hyphens for names and IPv4; colons, brackets and '%' (zone) for IPv6.
    private static bool IsAddressCharacter(char c) => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or ':' or '[' or ']' or '%';

    private static bool TryReadBody(ReadOnlySpan<byte> body, out InviteCode invite, out string error)
    {
        invite = null!;
        const string Malformed = "The invite is malformed: it was not made by a working version of Shoal.";
        const int FixedSize = NetworkId.Size + NetworkMembership.SecretSize + Hash256.Size;
        if (body.Length < FixedSize + 1)
        {
            error = Malformed;
            return false;
        }

        var network = NetworkId.FromBytes(body[..NetworkId.Size]);
        var secret = body.Slice(NetworkId.Size, NetworkMembership.SecretSize);
        var inviter = DeviceId.FromBytes(body.Slice(NetworkId.Size + NetworkMembership.SecretSize, Hash256.Size));
        var rest = body[FixedSize..];

        if (!TryReadField(ref rest, out var nameBytes) || rest.IsEmpty)
        {
            error = Malformed;
            return false;
        }

        string name;
        try
        {
            name = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(nameBytes);
        }
        catch (DecoderFallbackException)
        {
            error = Malformed;
            return false;
        }

        var count = rest[0];
        rest = rest[1..];
        var addresses = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            if (!TryReadField(ref rest, out var addressBytes))
            {
                error = Malformed;
                return false;
            }

            addresses.Add(Encoding.Latin1.GetString(addressBytes));
        }

        if (!rest.IsEmpty)
        {
            error = Malformed;
            return false;
        }

        if (!IsValidName(name, out error) || !AreValidAddresses(addresses, out error))
        {
            error = $"The invite is malformed: {error}";
            return false;
        }

        invite = new InviteCode(new NetworkMembership(network, secret), inviter, name, addresses);
        return true;
    }

    private static bool TryReadField(ref ReadOnlySpan<byte> rest, out ReadOnlySpan<byte> field)
    {
        field = default;
        if (rest.IsEmpty || rest.Length < 1 + rest[0])
        {
            return false;
        }

        field = rest.Slice(1, rest[0]);
        rest = rest[(1 + rest[0])..];
        return true;
    }

    private static bool IsValidName(string? name, out string error)
    {
        if (name is null || Encoding.UTF8.GetByteCount(name) > MaxNameBytes)
        {
            error = $"the inviter's name must be at most {MaxNameBytes} bytes of UTF-8.";
            return false;
        }

        if (name.Any(char.IsControl))
        {
            error = "the inviter's name contains control characters.";
            return false;
        }

        error = "";
        return true;
    }

    private static bool AreValidAddresses(IReadOnlyList<string>? addresses, out string error)
    {
        if (addresses is null || addresses.Count > MaxAddresses)
        {
            error = $"an invite holds at most {MaxAddresses} addresses.";
            return false;
        }

        foreach (var address in addresses)
        {
            if (!TryParseAddress(address, out _))
            {
                error = $"'{address}' is not a valid address (host:port, with IPv6 addresses in brackets).";
                return false;
            }
        }

        error = "";
        return true;
    }

    private static void ComputeChecksum(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(data, digest);
        digest[..ChecksumSize].CopyTo(destination);
    }
}
