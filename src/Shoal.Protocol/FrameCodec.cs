using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Shoal.Core;

namespace Shoal.Protocol;

public enum FrameStatus
{
    NeedMoreData,
    Ok,
    Invalid,
}

/// <summary>
/// The peer protocol's binary framing: u32 big-endian length (type byte + body), one type byte, then the body.
/// Decoding never throws on peer input: anything malformed is reported as <see cref="FrameStatus.Invalid"/>,
/// and only a canonical encoding is accepted, so a decoded message re-encodes to the same bytes.
/// </summary>
public static partial class FrameCodec
{
    public const int LengthPrefixSize = 4;
    public const int HeaderSize = LengthPrefixSize + 1;

    /// <summary>Largest length prefix accepted: a maximum-size chunk plus room for its response header.</summary>
    public const int MaxFrameLength = ChunkingParameters.MaxSize + 64;

    /// <summary>Length prefix, type byte and request id: what precedes the chunk bytes of a chunk response.</summary>
    public const int ChunkResponseHeaderSize = HeaderSize + 4;

    private const int MaxBodyLength = MaxFrameLength - 1;
    private const int HelloFixedSize = 2 + NetworkId.Size + Hello.NonceSize + 2 + 2;
    private const int CloseFixedSize = 2 + 2;
    private const int InventoryFixedSize = 1 + 2;
    private const int InventoryEntryFixedSize = Hash256.Size + 2 + 8 + 4 + 1;
    private const int ManifestResponseFixedSize = 4 + 8 + 4 + 4 + 4;
    private const int ManifestEntrySize = 4 + Hash256.Size;
    private const int ErrorResponseFixedSize = 4 + 2 + 2;
    private const byte InventoryResetFlag = 0x01;

    /// <summary>Throws on unpaired surrogates instead of silently sending U+FFFD, which the peer would read back differently.</summary>
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Reads the length prefix and type. The length is judged from the first 4 bytes alone, and the type's own
    /// body size limits are applied here too, so a peer cannot make us buffer a large frame that is bound to be
    /// rejected.
    /// </summary>
    public static FrameStatus TryReadHeader(in ReadOnlySequence<byte> buffer, out MessageType type, out int bodyLength, out string error)
    {
        type = default;
        bodyLength = 0;
        error = "";
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadBigEndian(out int rawLength)) return FrameStatus.NeedMoreData;
        var length = (uint)rawLength;
        if (length is < 1 or > MaxFrameLength)
        {
            error = $"frame length {length} is outside 1..{MaxFrameLength}";
            return FrameStatus.Invalid;
        }

        if (!reader.TryRead(out var typeByte)) return FrameStatus.NeedMoreData;
        var (min, max) = BodyLengthRange((MessageType)typeByte);
        if (min < 0)
        {
            error = $"unknown message type 0x{typeByte:x2}";
            return FrameStatus.Invalid;
        }

        var body = (int)length - 1;
        if (body < min || body > max)
        {
            error = $"{(MessageType)typeByte} body of {body} bytes is outside {min}..{max}";
            return FrameStatus.Invalid;
        }

        type = (MessageType)typeByte;
        bodyLength = body;
        return FrameStatus.Ok;
    }

    /// <summary>
    /// Decodes one whole frame if it is buffered and slices <paramref name="buffer"/> past it. On anything but
    /// <see cref="FrameStatus.Ok"/> the buffer is left as it was.
    /// </summary>
    public static FrameStatus TryReadFrame(ref ReadOnlySequence<byte> buffer, out Message? message, out string error)
    {
        message = null;
        var status = TryReadHeader(buffer, out var type, out var bodyLength, out error);
        if (status != FrameStatus.Ok) return status;
        if (buffer.Length - HeaderSize < bodyLength) return FrameStatus.NeedMoreData;
        var body = buffer.Slice(HeaderSize, bodyLength);
        if (!TryDecode(type, body, out message, out error)) return FrameStatus.Invalid;
        buffer = buffer.Slice(body.End);
        return FrameStatus.Ok;
    }

    /// <summary>
    /// Splits a chunk response body without copying the data, for the data path that reads the header itself
    /// with <see cref="TryReadHeader"/>.
    /// </summary>
    public static bool TryParseChunkResponse(in ReadOnlySequence<byte> body, out uint requestId, out ReadOnlySequence<byte> data, out string error)
    {
        data = default;
        var (min, max) = BodyLengthRange(MessageType.ChunkResponse);
        var reader = new SequenceReader<byte>(body);
        if (body.Length < min || body.Length > max || !TryReadUInt32(ref reader, out requestId))
        {
            requestId = 0;
            error = $"ChunkResponse body of {body.Length} bytes is outside {min}..{max}";
            return false;
        }

        data = reader.UnreadSequence;
        error = "";
        return true;
    }

    /// <summary>Encodes the header that precedes <paramref name="dataLength"/> chunk bytes in one frame.</summary>
    public static void WriteChunkResponseHeader(Span<byte> destination, uint requestId, int dataLength)
    {
        if (destination.Length < ChunkResponseHeaderSize)
        {
            throw new ArgumentException($"A chunk response header needs {ChunkResponseHeaderSize} bytes.", nameof(destination));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(dataLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(dataLength, ChunkingParameters.MaxSize);
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)(1 + 4 + dataLength));
        destination[LengthPrefixSize] = (byte)MessageType.ChunkResponse;
        BinaryPrimitives.WriteUInt32BigEndian(destination[HeaderSize..], requestId);
    }

    /// <summary>
    /// Inclusive body size bounds per type, (-1, -1) for an unknown type. Every valid body falls inside them,
    /// so checking them early only ever rejects frames that decoding would reject anyway.
    /// </summary>
    private static (int Min, int Max) BodyLengthRange(MessageType type) => type switch
    {
        MessageType.Hello => (HelloFixedSize, HelloFixedSize + Hello.MaxNameBytes + 2 + Hello.MaxObservedAddressBytes),
        MessageType.Auth => (Auth.ProofSize, Auth.ProofSize),
        MessageType.Close => (CloseFixedSize, CloseFixedSize + Close.MaxTextBytes + 2),
        MessageType.Ping or MessageType.Pong => (8, 8),
        MessageType.Inventory => (InventoryFixedSize, MaxBodyLength),
        MessageType.Have => (Hash256.Size + 4, Hash256.Size + 4),
        MessageType.Removed => (Hash256.Size, Hash256.Size),
        MessageType.Revoked => (2, 2 + (Revoked.MaxDevices * Hash256.Size)),
        MessageType.ManifestRequest or MessageType.ChunkRequest => (4 + Hash256.Size + 4, 4 + Hash256.Size + 4),
        MessageType.ManifestResponse =>
            (ManifestResponseFixedSize, ManifestResponseFixedSize + (ManifestResponse.MaxEntriesPerPage * ManifestEntrySize)),
        MessageType.ChunkResponse => (4, 4 + ChunkingParameters.MaxSize),
        MessageType.ErrorResponse => (ErrorResponseFixedSize, ErrorResponseFixedSize + ErrorResponse.MaxTextBytes),
        MessageType.Cancel => (4, 4),
        MessageType.IndexRequest => (IndexRequestFixedSize + 1, IndexRequestFixedSize + IndexRequest.MaxFolderBytes),
        MessageType.IndexUpdate => (IndexUpdateFixedSize + 1, MaxBodyLength),
        MessageType.StoreChunk => (StoreChunkFixedSize + 1, StoreChunkMaxBodyLength),
        MessageType.StoreResult => (StoreResultSize, StoreResultSize),
        MessageType.PutRecords => (PutRecordsFixedSize, PutRecordsFixedSize + (PutRecords.MaxRecords * (PutRecordFixedSize + PutRecord.MaxNameBytes))),
        MessageType.StoreStatus => (StoreStatusSize, StoreStatusSize),
        MessageType.StoredChunks => (StoredChunksFixedSize, StoredChunksFixedSize + Bitfield.ByteLength(Manifest.MaxChunkCount)),
        _ => (-1, -1),
    };
}
