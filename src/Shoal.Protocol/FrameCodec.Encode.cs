using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Shoal.Core;

namespace Shoal.Protocol;

public static partial class FrameCodec
{
    /// <summary>Caps each buffer request when copying large payloads, so a pipe is not asked for megabytes at once.</summary>
    private const int MaxCopyRequest = 64 * 1024;

    /// <summary>
    /// Encodes one frame. Every limit the decoder enforces is checked first, so on <see cref="ArgumentException"/>
    /// nothing has been written: a node must never send what it would itself reject.
    /// </summary>
    public static void Write(Message message, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var bodyLength = MeasureBody(message);
        var writer = new FrameWriter(output);
        WriteFrame(ref writer, message, bodyLength);
        writer.Commit();
    }

    public static byte[] Encode(Message message)
    {
        var bodyLength = MeasureBody(message);
        var frame = new byte[HeaderSize + bodyLength];
        var writer = new FrameWriter(frame);
        WriteFrame(ref writer, message, bodyLength);
        return frame;
    }

    /// <summary>The encoded size including the length prefix; throws like <see cref="Write"/> for an invalid message.</summary>
    public static int GetFrameLength(Message message) => HeaderSize + MeasureBody(message);

    private static void WriteFrame(ref FrameWriter writer, Message message, int bodyLength)
    {
        var header = writer.Take(HeaderSize);
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)(1 + bodyLength));
        header[LengthPrefixSize] = (byte)message.Type;
        switch (message)
        {
            case Hello hello:
                writer.WriteUInt16(hello.ProtocolVersion);
                hello.Network.CopyTo(writer.Take(NetworkId.Size));
                writer.WriteBytes(hello.Nonce);
                writer.WriteString(hello.Name);
                writer.WriteUInt16(hello.ListenPort);
                if (hello.ObservedAddress.Length > 0) writer.WriteString(hello.ObservedAddress);
                break;
            case Auth auth:
                writer.WriteBytes(auth.Proof);
                break;
            case Close close:
                writer.WriteUInt16((ushort)close.Reason);
                writer.WriteString(close.Text);
                if (close.Reason == CloseReason.Busy) writer.WriteUInt16(close.RetryAfterSeconds);
                break;
            case Ping ping:
                writer.WriteUInt64(ping.Payload);
                break;
            case Pong pong:
                writer.WriteUInt64(pong.Payload);
                break;
            case Inventory inventory:
                writer.Take(1)[0] = inventory.Reset ? InventoryResetFlag : (byte)0;
                writer.WriteUInt16((ushort)inventory.Entries.Count);
                foreach (var entry in inventory.Entries)
                {
                    entry.Id.Value.CopyTo(writer.Take(Hash256.Size));
                    writer.WriteString(entry.Name);
                    writer.WriteUInt64((ulong)entry.Size);
                    writer.WriteUInt32((uint)entry.ChunkCount);
                    writer.Take(1)[0] = entry.Chunks is null ? (byte)1 : (byte)0;
                    if (entry.Chunks is not null) writer.WriteBytes(entry.Chunks.AsSpan());
                }

                break;
            case Have have:
                have.File.Value.CopyTo(writer.Take(Hash256.Size));
                writer.WriteUInt32((uint)have.ChunkIndex);
                break;
            case Removed removed:
                removed.File.Value.CopyTo(writer.Take(Hash256.Size));
                break;
            case Revoked revoked:
                writer.WriteUInt16((ushort)revoked.Devices.Count);
                foreach (var device in revoked.Devices) device.Value.CopyTo(writer.Take(Hash256.Size));
                break;
            case ManifestRequest request:
                writer.WriteUInt32(request.RequestId);
                request.File.Value.CopyTo(writer.Take(Hash256.Size));
                writer.WriteUInt32((uint)request.FirstChunk);
                break;
            case ManifestResponse response:
                writer.WriteUInt32(response.RequestId);
                writer.WriteUInt64((ulong)response.FileSize);
                writer.WriteUInt32((uint)response.TotalChunks);
                writer.WriteUInt32((uint)response.FirstChunk);
                writer.WriteUInt32((uint)response.Entries.Count);
                foreach (var (length, hash) in response.Entries)
                {
                    writer.WriteUInt32((uint)length);
                    hash.CopyTo(writer.Take(Hash256.Size));
                }

                break;
            case ChunkRequest request:
                writer.WriteUInt32(request.RequestId);
                request.File.Value.CopyTo(writer.Take(Hash256.Size));
                writer.WriteUInt32((uint)request.ChunkIndex);
                break;
            case ChunkResponse response:
                writer.WriteUInt32(response.RequestId);
                writer.WriteBytes(response.Data.Span);
                break;
            case ErrorResponse response:
                writer.WriteUInt32(response.RequestId);
                writer.WriteUInt16((ushort)response.Code);
                writer.WriteString(response.Text);
                break;
            case Cancel cancel:
                writer.WriteUInt32(cancel.RequestId);
                break;
            case IndexRequest request:
                WriteIndexRequest(ref writer, request);
                break;
            case IndexUpdate update:
                WriteIndexUpdate(ref writer, update);
                break;
            case StoreChunk store:
                WriteStoreChunk(ref writer, store);
                break;
            case StoreResult result:
                writer.WriteUInt32(result.RequestId);
                writer.Take(1)[0] = (byte)result.Outcome;
                break;
            case PutRecords put:
                WritePutRecords(ref writer, put);
                break;
            case StoreStatus status:
                writer.WriteUInt64((ulong)status.QuotaBytes);
                writer.WriteUInt64((ulong)status.UsedBytes);
                break;
            case StoredChunks stored:
                WriteStoredChunks(ref writer, stored);
                break;
        }

        Debug.Assert(writer.Written == HeaderSize + bodyLength, "the measured length must match what was written");
    }

    /// <summary>Validates the message against every decoder limit and returns its body length.</summary>
    private static int MeasureBody(Message message)
    {
        ArgumentNullException.ThrowIfNull(message);
        long length = message switch
        {
            Hello hello => MeasureHello(hello),
            Auth auth => MeasureFixedBytes(auth.Proof, Auth.ProofSize, "Auth proof"),
            Close close => CloseFixedSize + MeasureCloseText(close) + (close.Reason == CloseReason.Busy ? 2 : 0),
            Ping or Pong => 8,
            Inventory inventory => MeasureInventory(inventory),
            Have have => Hash256.Size + MeasureIndex(have.ChunkIndex, "Have chunk index"),
            Removed => Hash256.Size,
            Revoked revoked => MeasureRevoked(revoked),
            ManifestRequest request => 4 + Hash256.Size + MeasureIndex(request.FirstChunk, "ManifestRequest first chunk"),
            ManifestResponse response => MeasureManifestResponse(response),
            ChunkRequest request => 4 + Hash256.Size + MeasureIndex(request.ChunkIndex, "ChunkRequest chunk index"),
            ChunkResponse response => MeasureChunkResponse(response),
            ErrorResponse response => ErrorResponseFixedSize + MeasureErrorText(response),
            Cancel => 4,
            IndexRequest request => MeasureIndexRequest(request),
            IndexUpdate update => MeasureIndexUpdate(update),
            StoreChunk store => MeasureStoreChunk(store),
            StoreResult result => MeasureStoreResult(result),
            PutRecords put => MeasurePutRecords(put),
            StoreStatus status => MeasureStoreStatus(status),
            StoredChunks stored => MeasureStoredChunks(stored),
            _ => throw new ArgumentException($"{message.GetType().Name} is not a protocol message.", nameof(message)),
        };

        var (_, max) = BodyLengthRange(message.Type);
        if (length > max)
        {
            throw new ArgumentException($"{message.Type} body of {length} bytes exceeds its {max}-byte limit.", nameof(message));
        }

        return (int)length;
    }

    private static int MeasureRevoked(Revoked revoked)
    {
        ArgumentNullException.ThrowIfNull(revoked.Devices);
        if (revoked.Devices.Count > Revoked.MaxDevices)
        {
            throw new ArgumentOutOfRangeException(nameof(revoked), $"at most {Revoked.MaxDevices} revoked devices fit in one message");
        }

        return 2 + (revoked.Devices.Count * Hash256.Size);
    }

    private static int MeasureHello(Hello hello)
    {
        MeasureFixedBytes(hello.Nonce, Hello.NonceSize, "Hello nonce");
        var observed = hello.ObservedAddress is { Length: 0 } ? 0 : 2 + MeasureString(hello.ObservedAddress, Hello.MaxObservedAddressBytes, "Hello observed address");
        return HelloFixedSize + MeasureString(hello.Name, Hello.MaxNameBytes, "Hello name") + observed;
    }

    private static int MeasureCloseText(Close close)
    {
        if (!Enum.IsDefined(close.Reason)) throw new ArgumentException($"Close reason {close.Reason} is not defined.");
        return MeasureString(close.Text, Close.MaxTextBytes, "Close text");
    }

    private static int MeasureErrorText(ErrorResponse response)
    {
        if (!Enum.IsDefined(response.Code)) throw new ArgumentException($"Error code {response.Code} is not defined.");
        return MeasureString(response.Text, ErrorResponse.MaxTextBytes, "ErrorResponse text");
    }

    private static long MeasureInventory(Inventory inventory)
    {
        if (inventory.Entries is null) throw new ArgumentException("Inventory entries are missing.");
        if (inventory.Entries.Count > Inventory.MaxEntries)
        {
            throw new ArgumentException($"An inventory holds at most {Inventory.MaxEntries} entries, not {inventory.Entries.Count}.");
        }

        long length = InventoryFixedSize;
        foreach (var entry in inventory.Entries)
        {
            if (entry is null) throw new ArgumentException("An inventory entry is missing.");
            if (entry.Size < 0) throw new ArgumentException($"Inventory entry {entry.Id} has a negative size.");
            if (entry.ChunkCount is < 0 or > Manifest.MaxChunkCount)
            {
                throw new ArgumentException($"Inventory entry {entry.Id} has {entry.ChunkCount} chunks.");
            }

            if (entry.Chunks is not null && entry.Chunks.Length != entry.ChunkCount)
            {
                throw new ArgumentException($"Inventory entry {entry.Id} has a bitfield that does not match its chunk count.");
            }

            length += InventoryEntryFixedSize + MeasureString(entry.Name, InventoryEntry.MaxNameBytes, "Inventory entry name");
            if (entry.Chunks is not null) length += Bitfield.ByteLength(entry.ChunkCount);
        }

        return length;
    }

    private static long MeasureManifestResponse(ManifestResponse response)
    {
        if (response.FileSize < 0) throw new ArgumentException("A manifest's file size cannot be negative.");
        if (response.TotalChunks is < 0 or > Manifest.MaxChunkCount)
        {
            throw new ArgumentException($"A manifest has 0..{Manifest.MaxChunkCount} chunks, not {response.TotalChunks}.");
        }

        MeasureIndex(response.FirstChunk, "ManifestResponse first chunk");
        if (response.Entries is null) throw new ArgumentException("ManifestResponse entries are missing.");
        var count = response.Entries.Count;
        if (count > ManifestResponse.MaxEntriesPerPage)
        {
            throw new ArgumentException($"A manifest page holds at most {ManifestResponse.MaxEntriesPerPage} entries, not {count}.");
        }

        if ((long)response.FirstChunk + count > response.TotalChunks)
        {
            throw new ArgumentException($"Manifest page {response.FirstChunk}+{count} runs past the {response.TotalChunks} chunks.");
        }

        foreach (var (length, _) in response.Entries)
        {
            if (length is < 1 or > ChunkingParameters.MaxSize)
            {
                throw new ArgumentException($"Manifest chunk length {length} is outside 1..{ChunkingParameters.MaxSize}.");
            }
        }

        return ManifestResponseFixedSize + ((long)count * ManifestEntrySize);
    }

    private static int MeasureChunkResponse(ChunkResponse response)
    {
        if (response.Data.Length > ChunkingParameters.MaxSize)
        {
            throw new ArgumentException($"Chunk data of {response.Data.Length} bytes exceeds the {ChunkingParameters.MaxSize}-byte chunk limit.");
        }

        return 4 + response.Data.Length;
    }

    private static int MeasureFixedBytes(byte[]? bytes, int length, string field)
    {
        if (bytes is null || bytes.Length != length)
        {
            throw new ArgumentException($"{field} must be {length} bytes, not {bytes?.Length.ToString() ?? "missing"}.");
        }

        return length;
    }

    private static int MeasureIndex(int value, string field)
    {
        if (value < 0) throw new ArgumentException($"{field} {value} is negative.");
        return 4;
    }

    /// <summary>The UTF-8 byte count alone: each string's u16 length prefix is counted in its message's fixed size.</summary>
    private static int MeasureString(string? value, int maxBytes, string field)
    {
        if (value is null) throw new ArgumentException($"{field} is missing.");
        int length;
        try
        {
            length = StrictUtf8.GetByteCount(value);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException($"{field} is not valid Unicode.", e);
        }

        if (length > maxBytes) throw new ArgumentException($"{field} has {length} UTF-8 bytes; at most {maxBytes} are allowed.");
        return length;
    }

    /// <summary>
    /// Writes to a fixed array or to a buffer writer. Fixed-size fields take one contiguous span; large payloads
    /// are copied across as many spans as the output hands out.
    /// </summary>
    private ref struct FrameWriter
    {
        private readonly IBufferWriter<byte>? _output;
        private Span<byte> _span;
        private int _buffered;

        public FrameWriter(IBufferWriter<byte> output)
        {
            _output = output;
            _span = default;
        }

        public FrameWriter(Span<byte> destination)
        {
            _output = null;
            _span = destination;
        }

        public int Written { get; private set; }

        public Span<byte> Take(int count)
        {
            if (_span.Length - _buffered < count) Refill(count);
            var taken = _span.Slice(_buffered, count);
            _buffered += count;
            Written += count;
            return taken;
        }

        public void WriteUInt16(ushort value) => BinaryPrimitives.WriteUInt16BigEndian(Take(2), value);

        public void WriteUInt32(uint value) => BinaryPrimitives.WriteUInt32BigEndian(Take(4), value);

        public void WriteUInt64(ulong value) => BinaryPrimitives.WriteUInt64BigEndian(Take(8), value);

        /// <summary>Only called after <see cref="MeasureString"/> accepted the value.</summary>
        public void WriteString(string value)
        {
            var length = StrictUtf8.GetByteCount(value);
            var span = Take(2 + length);
            BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)length);
            StrictUtf8.GetBytes(value, span[2..]);
        }

        public void WriteBytes(ReadOnlySpan<byte> data)
        {
            while (!data.IsEmpty)
            {
                if (_span.Length == _buffered) Refill(Math.Min(data.Length, MaxCopyRequest));
                var count = Math.Min(data.Length, _span.Length - _buffered);
                data[..count].CopyTo(_span[_buffered..]);
                _buffered += count;
                Written += count;
                data = data[count..];
            }
        }

        public void Commit()
        {
            _output?.Advance(_buffered);
            _buffered = 0;
            _span = default;
        }

        private void Refill(int count)
        {
            if (_output is null) throw new InvalidOperationException("The frame outgrew its measured length.");
            _output.Advance(_buffered);
            _buffered = 0;
            _span = _output.GetSpan(count);
        }
    }
}
