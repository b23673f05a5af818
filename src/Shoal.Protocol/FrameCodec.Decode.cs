using System.Buffers;
using System.Text;
using System.Text.Unicode;
using Shoal.Core;

namespace Shoal.Protocol;

public static partial class FrameCodec
{
    private const string BodyEndsEarly = "the body ends before its last field";

    /// <summary>Decodes a body whose type and exact extent the caller has already taken from the frame header.</summary>
    public static bool TryDecode(MessageType type, in ReadOnlySequence<byte> body, out Message? message, out string error)
    {
        message = null;
        var (min, max) = BodyLengthRange(type);
        if (min < 0) return Fail(out error, $"unknown message type 0x{(byte)type:x2}");
        if (body.Length < min || body.Length > max)
        {
            return Fail(out error, $"{type} body of {body.Length} bytes is outside {min}..{max}");
        }

        var reader = new SequenceReader<byte>(body);
        bool decoded;
        switch (type)
        {
            case MessageType.Hello:
                decoded = TryReadHello(ref reader, out message, out error);
                break;
            case MessageType.Auth:
                decoded = TryReadAuth(ref reader, out message, out error);
                break;
            case MessageType.Close:
                decoded = TryReadClose(ref reader, out message, out error);
                break;
            case MessageType.Ping:
            case MessageType.Pong:
                decoded = TryReadPingPong(ref reader, type, out message, out error);
                break;
            case MessageType.Inventory:
                decoded = TryReadInventory(ref reader, out message, out error);
                break;
            case MessageType.Have:
                decoded = TryReadHave(ref reader, out message, out error);
                break;
            case MessageType.Removed:
                decoded = TryReadRemoved(ref reader, out message, out error);
                break;
            case MessageType.Revoked:
                decoded = TryReadRevoked(ref reader, out message, out error);
                break;
            case MessageType.ManifestRequest:
                decoded = TryReadManifestRequest(ref reader, out message, out error);
                break;
            case MessageType.ManifestResponse:
                decoded = TryReadManifestResponse(ref reader, out message, out error);
                break;
            case MessageType.ChunkRequest:
                decoded = TryReadChunkRequest(ref reader, out message, out error);
                break;
            case MessageType.ChunkResponse:
                decoded = TryReadChunkResponse(ref reader, out message, out error);
                break;
            case MessageType.ErrorResponse:
                decoded = TryReadErrorResponse(ref reader, out message, out error);
                break;
            case MessageType.IndexRequest:
                decoded = TryReadIndexRequest(ref reader, out message, out error);
                break;
            case MessageType.IndexUpdate:
                decoded = TryReadIndexUpdate(ref reader, out message, out error);
                break;
            case MessageType.StoreChunk:
                decoded = TryReadStoreChunk(ref reader, out message, out error);
                break;
            case MessageType.StoreResult:
                decoded = TryReadStoreResult(ref reader, out message, out error);
                break;
            case MessageType.PutRecords:
                decoded = TryReadPutRecords(ref reader, out message, out error);
                break;
            case MessageType.StoreStatus:
                decoded = TryReadStoreStatus(ref reader, out message, out error);
                break;
            case MessageType.StoredChunks:
                decoded = TryReadStoredChunks(ref reader, out message, out error);
                break;
            default:
                // Only Cancel is left: BodyLengthRange has already turned unknown types away.
                decoded = TryReadCancel(ref reader, out message, out error);
                break;
        }

        if (!decoded)
        {
            message = null;
            return false;
        }

        if (!reader.End)
        {
            message = null;
            return Fail(out error, $"{reader.Remaining} trailing bytes after the {type} body");
        }

        return true;
    }

    private static bool TryReadHello(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        var nonce = new byte[Hello.NonceSize];
        if (!TryReadUInt16(ref reader, out var version) || !TryReadNetworkId(ref reader, out var network) || !TryReadInto(ref reader, nonce))
        {
            return Fail(out error, BodyEndsEarly);
        }

        if (!TryReadString(ref reader, Hello.MaxNameBytes, "Hello name", out var name, out error)) return false;
        if (!TryReadUInt16(ref reader, out var listenPort)) return Fail(out error, BodyEndsEarly);
        var observed = "";
        if (reader.Remaining > 0)
        {
            if (!TryReadString(ref reader, Hello.MaxObservedAddressBytes, "Hello observed address", out observed, out error)) return false;

            // One encoding per hello: an empty address is left out, never sent as an empty string.
            if (observed.Length == 0) return Fail(out error, "Hello observed address is present but empty");
        }

        message = new Hello(version, network, nonce, name, listenPort, observed);
        return true;
    }

    private static bool TryReadAuth(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        var proof = new byte[Auth.ProofSize];
        if (!TryReadInto(ref reader, proof)) return Fail(out error, BodyEndsEarly);
        message = new Auth(proof);
        error = "";
        return true;
    }

    private static bool TryReadClose(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!TryReadUInt16(ref reader, out var reason)) return Fail(out error, BodyEndsEarly);
        if (!Enum.IsDefined((CloseReason)reason)) return Fail(out error, $"unknown close reason {reason}");
        if (!TryReadString(ref reader, Close.MaxTextBytes, "Close text", out var text, out error)) return false;
        ushort retryAfter = 0;
        if ((CloseReason)reason == CloseReason.Busy && !TryReadUInt16(ref reader, out retryAfter)) return Fail(out error, BodyEndsEarly);
        message = new Close((CloseReason)reason, text, retryAfter);
        return true;
    }

    private static bool TryReadPingPong(ref SequenceReader<byte> reader, MessageType type, out Message? message, out string error)
    {
        message = null;
        if (!TryReadUInt64(ref reader, out var payload)) return Fail(out error, BodyEndsEarly);
        message = type == MessageType.Ping ? new Ping(payload) : new Pong(payload);
        error = "";
        return true;
    }

    private static bool TryReadInventory(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!reader.TryRead(out var flags) || !TryReadUInt16(ref reader, out var count)) return Fail(out error, BodyEndsEarly);

        // Reserved bits must be zero so that a later protocol version cannot be misread as this one.
        if ((flags & ~InventoryResetFlag) != 0) return Fail(out error, $"inventory flags 0x{flags:x2} set reserved bits");
        if (count > Inventory.MaxEntries) return Fail(out error, $"inventory has {count} entries; at most {Inventory.MaxEntries} are allowed");

        // Checked before allocating, so a short frame cannot claim thousands of entries.
        if (reader.Remaining < (long)count * InventoryEntryFixedSize) return Fail(out error, BodyEndsEarly);
        var entries = new InventoryEntry[count];
        for (var i = 0; i < entries.Length; i++)
        {
            if (!TryReadInventoryEntry(ref reader, out entries[i], out error))
            {
                error = $"inventory entry {i}: {error}";
                return false;
            }
        }

        message = new Inventory((flags & InventoryResetFlag) != 0, entries);
        error = "";
        return true;
    }

    private static bool TryReadInventoryEntry(ref SequenceReader<byte> reader, out InventoryEntry entry, out string error)
    {
        entry = null!;
        if (!TryReadHash(ref reader, out var id)) return Fail(out error, BodyEndsEarly);
        if (!TryReadString(ref reader, InventoryEntry.MaxNameBytes, "name", out var name, out error)) return false;
        if (!TryReadUInt64(ref reader, out var size) || !TryReadUInt32(ref reader, out var chunkCount) || !reader.TryRead(out var complete))
        {
            return Fail(out error, BodyEndsEarly);
        }

        if (size > long.MaxValue) return Fail(out error, $"size {size} is out of range");
        if (chunkCount > Manifest.MaxChunkCount) return Fail(out error, $"{chunkCount} chunks; at most {Manifest.MaxChunkCount} are allowed");

        Bitfield? chunks = null;
        switch (complete)
        {
            case 1:
                break;
            case 0:
                if (!TryReadBitfield(ref reader, (int)chunkCount, out chunks, out error)) return false;
                break;
            default:
                return Fail(out error, $"completeness byte {complete} is neither 0 nor 1");
        }

        entry = new InventoryEntry(new FileId(id), name, (long)size, (int)chunkCount, chunks);
        error = "";
        return true;
    }

    private static bool TryReadHave(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!TryReadHash(ref reader, out var file)) return Fail(out error, BodyEndsEarly);
        if (!TryReadIndex(ref reader, "chunk index", out var chunkIndex, out error)) return false;
        message = new Have(new FileId(file), chunkIndex);
        return true;
    }

    private static bool TryReadRemoved(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!TryReadHash(ref reader, out var file)) return Fail(out error, BodyEndsEarly);
        message = new Removed(new FileId(file));
        error = "";
        return true;
    }

    private static bool TryReadRevoked(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!TryReadUInt16(ref reader, out var count)) return Fail(out error, BodyEndsEarly);
        if (count > Revoked.MaxDevices) return Fail(out error, $"revocation list has {count} devices; at most {Revoked.MaxDevices} are allowed");
        if (reader.Remaining != (long)count * Hash256.Size) return Fail(out error, "revocation list length does not match its count");
        var devices = new DeviceId[count];
        for (var i = 0; i < count; i++)
        {
            TryReadHash(ref reader, out var device);
            devices[i] = new DeviceId(device);
        }

        message = new Revoked(devices);
        error = "";
        return true;
    }

    private static bool TryReadManifestRequest(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!TryReadUInt32(ref reader, out var requestId) || !TryReadHash(ref reader, out var file)) return Fail(out error, BodyEndsEarly);
        if (!TryReadIndex(ref reader, "first chunk", out var firstChunk, out error)) return false;
        message = new ManifestRequest(requestId, new FileId(file), firstChunk);
        return true;
    }

    private static bool TryReadManifestResponse(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!TryReadUInt32(ref reader, out var requestId)
            || !TryReadUInt64(ref reader, out var fileSize)
            || !TryReadUInt32(ref reader, out var totalChunks)
            || !TryReadUInt32(ref reader, out var firstChunk)
            || !TryReadUInt32(ref reader, out var count))
        {
            return Fail(out error, BodyEndsEarly);
        }

        if (fileSize > long.MaxValue) return Fail(out error, $"file size {fileSize} is out of range");
        if (totalChunks > Manifest.MaxChunkCount) return Fail(out error, $"{totalChunks} chunks; at most {Manifest.MaxChunkCount} are allowed");
        if (firstChunk > int.MaxValue) return Fail(out error, $"first chunk {firstChunk} is out of range");
        if (count > ManifestResponse.MaxEntriesPerPage)
        {
            return Fail(out error, $"manifest page has {count} entries; at most {ManifestResponse.MaxEntriesPerPage} are allowed");
        }

        if ((ulong)firstChunk + count > totalChunks)
        {
            return Fail(out error, $"manifest page {firstChunk}+{count} runs past the {totalChunks} chunks");
        }

        if (reader.Remaining < (long)count * ManifestEntrySize) return Fail(out error, BodyEndsEarly);
        var entries = new (int Length, Hash256 Hash)[count];
        for (var i = 0; i < entries.Length; i++)
        {
            if (!TryReadUInt32(ref reader, out var length) || !TryReadHash(ref reader, out var hash)) return Fail(out error, BodyEndsEarly);
            if (length is < 1 or > ChunkingParameters.MaxSize)
            {
                return Fail(out error, $"manifest chunk {firstChunk + (uint)i} has an invalid length {length}");
            }

            entries[i] = ((int)length, hash);
        }

        message = new ManifestResponse(requestId, (long)fileSize, (int)totalChunks, (int)firstChunk, entries);
        error = "";
        return true;
    }

    private static bool TryReadChunkRequest(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!TryReadUInt32(ref reader, out var requestId) || !TryReadHash(ref reader, out var file)) return Fail(out error, BodyEndsEarly);
        if (!TryReadIndex(ref reader, "chunk index", out var chunkIndex, out error)) return false;
        message = new ChunkRequest(requestId, new FileId(file), chunkIndex);
        return true;
    }

    private static bool TryReadChunkResponse(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!TryReadUInt32(ref reader, out var requestId)) return Fail(out error, BodyEndsEarly);
        var data = reader.UnreadSequence.ToArray();
        reader.AdvanceToEnd();
        message = new ChunkResponse(requestId, data);
        error = "";
        return true;
    }

    private static bool TryReadErrorResponse(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!TryReadUInt32(ref reader, out var requestId) || !TryReadUInt16(ref reader, out var code)) return Fail(out error, BodyEndsEarly);
        if (!Enum.IsDefined((ErrorCode)code)) return Fail(out error, $"unknown error code {code}");
        if (!TryReadString(ref reader, ErrorResponse.MaxTextBytes, "error text", out var text, out error)) return false;
        message = new ErrorResponse(requestId, (ErrorCode)code, text);
        return true;
    }

    private static bool TryReadCancel(ref SequenceReader<byte> reader, out Message? message, out string error)
    {
        message = null;
        if (!TryReadUInt32(ref reader, out var requestId)) return Fail(out error, BodyEndsEarly);
        message = new Cancel(requestId);
        error = "";
        return true;
    }

    private static bool TryReadUInt16(ref SequenceReader<byte> reader, out ushort value)
    {
        var read = reader.TryReadBigEndian(out short raw);
        value = (ushort)raw;
        return read;
    }

    private static bool TryReadUInt32(ref SequenceReader<byte> reader, out uint value)
    {
        var read = reader.TryReadBigEndian(out int raw);
        value = (uint)raw;
        return read;
    }

    private static bool TryReadUInt64(ref SequenceReader<byte> reader, out ulong value)
    {
        var read = reader.TryReadBigEndian(out long raw);
        value = (ulong)raw;
        return read;
    }

    /// <summary>A u32 that lands in a signed field, so values past <see cref="int.MaxValue"/> cannot be represented.</summary>
    private static bool TryReadIndex(ref SequenceReader<byte> reader, string field, out int value, out string error)
    {
        value = 0;
        if (!TryReadUInt32(ref reader, out var raw)) return Fail(out error, BodyEndsEarly);
        if (raw > int.MaxValue) return Fail(out error, $"{field} {raw} is out of range");
        value = (int)raw;
        error = "";
        return true;
    }

    private static bool TryReadInto(ref SequenceReader<byte> reader, scoped Span<byte> destination)
    {
        if (!reader.TryCopyTo(destination)) return false;
        reader.Advance(destination.Length);
        return true;
    }

    private static bool TryReadHash(ref SequenceReader<byte> reader, out Hash256 hash)
    {
        Span<byte> bytes = stackalloc byte[Hash256.Size];
        hash = default;
        if (!TryReadInto(ref reader, bytes)) return false;
        hash = new Hash256(bytes);
        return true;
    }

    private static bool TryReadNetworkId(ref SequenceReader<byte> reader, out NetworkId network)
    {
        Span<byte> bytes = stackalloc byte[NetworkId.Size];
        network = default;
        if (!TryReadInto(ref reader, bytes)) return false;
        network = NetworkId.FromBytes(bytes);
        return true;
    }

    private static bool TryReadString(ref SequenceReader<byte> reader, int maxBytes, string field, out string value, out string error)
    {
        value = "";
        if (!TryReadUInt16(ref reader, out var length)) return Fail(out error, BodyEndsEarly);
        if (length > maxBytes) return Fail(out error, $"{field} has {length} bytes; at most {maxBytes} are allowed");

        // Every string field is at most a few KiB, so copying a split one to the stack is cheap.
        Span<byte> bytes = stackalloc byte[length];
        if (!TryReadInto(ref reader, bytes)) return Fail(out error, BodyEndsEarly);
        if (!Utf8.IsValid(bytes)) return Fail(out error, $"{field} is not valid UTF-8");
        value = Encoding.UTF8.GetString(bytes);
        error = "";
        return true;
    }

    private static bool TryReadBitfield(ref SequenceReader<byte> reader, int length, out Bitfield? field, out string error)
    {
        field = null;
        var byteLength = Bitfield.ByteLength(length);
        if (reader.Remaining < byteLength) return Fail(out error, BodyEndsEarly);
        bool valid;
        Bitfield parsed;
        var unread = reader.UnreadSpan;
        if (unread.Length >= byteLength)
        {
            valid = Bitfield.TryFromBytes(length, unread[..byteLength], out parsed);
        }
        else
        {
            var rented = ArrayPool<byte>.Shared.Rent(byteLength);
            try
            {
                reader.TryCopyTo(rented.AsSpan(0, byteLength));
                valid = Bitfield.TryFromBytes(length, rented.AsSpan(0, byteLength), out parsed);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }

        if (!valid) return Fail(out error, "the chunk bitfield has bits set past its last chunk");
        reader.Advance(byteLength);
        field = parsed;
        error = "";
        return true;
    }

    private static bool Fail(out string error, string text)
    {
        error = text;
        return false;
    }
}
