using System.Buffers.Binary;
using System.Text;
using Shoal.Core;

namespace Shoal.Net.Relay;

/// <summary>What a connection to a relay is for, said once in its <see cref="RelayHello"/>.</summary>
public enum RelayRole : byte
{
    /// <summary>A control connection: the relay tells this device of sessions others open to it.</summary>
    Listen = 1,

    /// <summary>Open a session to the device named in the hello's subject.</summary>
    Connect = 2,

    /// <summary>The answer to an <see cref="RelayIncoming"/>: this connection becomes the session's other end.</summary>
    Accept = 3,
}

public enum RelayStatus : byte
{
    Ok = 0,
    NotAMember = 1,
    Unavailable = 2,
    LimitReached = 3,
    ProtocolError = 4,
}

public abstract record RelayFrame;

/// <summary>The relay's first words: a fresh nonce the hello's signature must cover, so a hello cannot be replayed.</summary>
public sealed record RelayChallenge(byte[] Nonce) : RelayFrame;

/// <param name="Subject">The target device (Connect), the session (Accept), or zeros (Listen).</param>
/// <param name="NetworkKey">The network's tracker public key (SubjectPublicKeyInfo): its hash is the network tag.</param>
/// <param name="Signature">By the network's tracker key over <see cref="RelayFrames.Transcript"/>.</param>
public sealed record RelayHello(RelayRole Role, DeviceId Device, byte[] Subject, byte[] NetworkKey, byte[] Signature) : RelayFrame;

public sealed record RelayResult(RelayStatus Status, string Text) : RelayFrame;

/// <summary>Sent on a control connection: <see cref="From"/> opened a session; accept it with <see cref="Session"/>.</summary>
public sealed record RelayIncoming(byte[] Session, DeviceId From) : RelayFrame;

/// <summary>Keeps a quiet control connection (and the NAT mapping under it) alive.</summary>
public sealed record RelayPing : RelayFrame;

/// <summary>
/// The relay's handshake framing, before a connection turns into opaque forwarded bytes: <c>u16 length | u8 type |
/// body</c>, big-endian, at most <see cref="MaxFrame"/> bytes. Decoding never throws: a malformed frame is an error text.
/// </summary>
public static class RelayFrames
{
    public const int MaxFrame = 1024;
    public const int NonceSize = 32;
    public const int SubjectSize = 32;
    private const int MaxKey = 256;
    private const int MaxSignature = 128;
    private const int MaxText = 200;
    private static readonly byte[] Label = "shoal-relay-v1"u8.ToArray();

    private enum FrameType : byte
    {
        Challenge = 1,
        Hello = 2,
        Result = 3,
        Incoming = 4,
        Ping = 5,
    }

    /// <summary>What a hello's network signature covers: the relay's nonce, the role, the device and the subject.</summary>
    public static byte[] Transcript(ReadOnlySpan<byte> nonce, RelayRole role, DeviceId device, ReadOnlySpan<byte> subject)
    {
        var transcript = new byte[Label.Length + NonceSize + 1 + Hash256.Size + SubjectSize];
        var span = transcript.AsSpan();
        Label.CopyTo(span);
        nonce.CopyTo(span[Label.Length..]);
        span[Label.Length + NonceSize] = (byte)role;
        device.Value.CopyTo(span[(Label.Length + NonceSize + 1)..]);
        subject.CopyTo(span[(Label.Length + NonceSize + 1 + Hash256.Size)..]);
        return transcript;
    }

    /// <summary>The whole frame, length prefix included.</summary>
    public static byte[] Encode(RelayFrame frame)
    {
        var body = new List<byte>(128);
        FrameType type;
        switch (frame)
        {
            case RelayChallenge c:
                type = FrameType.Challenge;
                body.AddRange(Fixed(c.Nonce, NonceSize));
                break;
            case RelayHello h:
                type = FrameType.Hello;
                body.Add((byte)h.Role);
                body.AddRange(h.Device.Value.ToArray());
                body.AddRange(Fixed(h.Subject, SubjectSize));
                AddBlob(body, h.NetworkKey, MaxKey);
                AddBlob(body, h.Signature, MaxSignature);
                break;
            case RelayResult r:
                type = FrameType.Result;
                body.Add((byte)r.Status);
                var text = Encoding.UTF8.GetBytes(r.Text);
                body.AddRange(text.AsSpan(0, Math.Min(text.Length, MaxText)).ToArray());
                break;
            case RelayIncoming i:
                type = FrameType.Incoming;
                body.AddRange(Fixed(i.Session, SubjectSize));
                body.AddRange(i.From.Value.ToArray());
                break;
            case RelayPing:
                type = FrameType.Ping;
                break;
            default:
                throw new ArgumentException($"unknown relay frame {frame.GetType().Name}", nameof(frame));
        }

        var bytes = new byte[3 + body.Count];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)(1 + body.Count));
        bytes[2] = (byte)type;
        body.CopyTo(bytes, 3);
        return bytes;
    }

    /// <summary>The length a frame's prefix announces (type and body); more than <see cref="MaxFrame"/> or 0 is malformed.</summary>
    public static bool TryReadLength(ReadOnlySpan<byte> prefix, out int length)
    {
        length = BinaryPrimitives.ReadUInt16BigEndian(prefix);
        return length is > 0 and <= MaxFrame;
    }

    /// <summary>Decodes a frame's type and body (what follows the length prefix).</summary>
    public static bool TryDecode(ReadOnlySpan<byte> frame, out RelayFrame? decoded, out string error)
    {
        decoded = null;
        error = "";
        if (frame.IsEmpty)
        {
            error = "empty frame";
            return false;
        }

        var body = frame[1..];
        switch ((FrameType)frame[0])
        {
            case FrameType.Challenge when body.Length == NonceSize:
                decoded = new RelayChallenge(body.ToArray());
                return true;
            case FrameType.Hello:
                return TryDecodeHello(body, out decoded, out error);
            case FrameType.Result when body.Length >= 1 && body.Length <= 1 + MaxText && Enum.IsDefined((RelayStatus)body[0]):
                try
                {
                    decoded = new RelayResult((RelayStatus)body[0], new UTF8Encoding(false, true).GetString(body[1..]));
                    return true;
                }
                catch (DecoderFallbackException)
                {
                    error = "result text is not UTF-8";
                    return false;
                }

            case FrameType.Incoming when body.Length == SubjectSize + Hash256.Size:
                decoded = new RelayIncoming(body[..SubjectSize].ToArray(), DeviceId.FromBytes(body[SubjectSize..]));
                return true;
            case FrameType.Ping when body.IsEmpty:
                decoded = new RelayPing();
                return true;
            default:
                error = $"malformed frame of type {frame[0]} ({body.Length} bytes)";
                return false;
        }
    }

    private static bool TryDecodeHello(ReadOnlySpan<byte> body, out RelayFrame? decoded, out string error)
    {
        decoded = null;
        error = "malformed hello";
        const int head = 1 + Hash256.Size + SubjectSize;
        if (body.Length < head || !Enum.IsDefined((RelayRole)body[0])) return false;
        var rest = body[head..];
        if (!TryReadBlob(ref rest, MaxKey, out var key) || !TryReadBlob(ref rest, MaxSignature, out var signature) || !rest.IsEmpty) return false;
        decoded = new RelayHello((RelayRole)body[0], DeviceId.FromBytes(body.Slice(1, Hash256.Size)), body.Slice(1 + Hash256.Size, SubjectSize).ToArray(), key, signature);
        error = "";
        return true;
    }

    private static byte[] Fixed(byte[] value, int size) =>
        value.Length == size ? value : throw new ArgumentException($"expected {size} bytes, got {value.Length}", nameof(value));

    private static void AddBlob(List<byte> body, byte[] blob, int max)
    {
        if (blob.Length > max) throw new ArgumentException($"at most {max} bytes", nameof(blob));
        body.Add((byte)(blob.Length >> 8));
        body.Add((byte)blob.Length);
        body.AddRange(blob);
    }

    private static bool TryReadBlob(ref ReadOnlySpan<byte> span, int max, out byte[] blob)
    {
        blob = [];
        if (span.Length < 2) return false;
        var length = BinaryPrimitives.ReadUInt16BigEndian(span);
        if (length > max || span.Length < 2 + length) return false;
        blob = span.Slice(2, length).ToArray();
        span = span[(2 + length)..];
        return true;
    }
}
