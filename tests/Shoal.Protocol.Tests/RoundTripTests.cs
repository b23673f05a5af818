using System.Buffers;
using System.Text;
using Shoal.Core;

namespace Shoal.Protocol.Tests;

public class RoundTripTests
{
    public static TheoryData<int> Indices => Samples.Indices();

    [Theory]
    [MemberData(nameof(Indices))]
    public void Every_sample_round_trips_through_a_single_segment(int index)
    {
        var message = Samples.All[index];
        var frame = FrameCodec.Encode(message);
        Assert.Equal(frame.Length, FrameCodec.GetFrameLength(message));

        var buffer = new ReadOnlySequence<byte>(frame);
        Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadFrame(ref buffer, out var decoded, out var error));
        Assert.Equal("", error);
        Assert.True(buffer.IsEmpty);
        Samples.AssertSame(message, decoded);
    }

    [Theory]
    [MemberData(nameof(Indices))]
    public void Every_sample_round_trips_with_one_byte_per_segment(int index)
    {
        var message = Samples.All[index];
        var buffer = Sequences.OneBytePerSegment(FrameCodec.Encode(message));
        Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadFrame(ref buffer, out var decoded, out _));
        Assert.True(buffer.IsEmpty);
        Samples.AssertSame(message, decoded);
    }

    [Theory]
    [MemberData(nameof(Indices))]
    public void Write_produces_the_same_bytes_as_Encode_whatever_spans_the_output_hands_out(int index)
    {
        var message = Samples.All[index];
        var expected = FrameCodec.Encode(message);

        var roomy = new ArrayBufferWriter<byte>();
        FrameCodec.Write(message, roomy);
        Assert.Equal(expected, roomy.WrittenSpan.ToArray());

        foreach (var spanSize in new[] { 1, 7, 64 })
        {
            var stingy = new StingyBufferWriter(spanSize);
            FrameCodec.Write(message, stingy);
            Assert.Equal(expected, stingy.WrittenBytes);
        }
    }

    [Theory]
    [MemberData(nameof(Indices))]
    public void TryDecode_accepts_the_body_alone(int index)
    {
        var message = Samples.All[index];
        var frame = FrameCodec.Encode(message);
        Assert.True(FrameCodec.TryDecode(message.Type, new ReadOnlySequence<byte>(frame, FrameCodec.HeaderSize, frame.Length - FrameCodec.HeaderSize), out var decoded, out _));
        Samples.AssertSame(message, decoded);
    }

    [Fact]
    public void Frames_split_at_every_byte_position_decode_identically()
    {
        var messages = Samples.All.Where(m => m is Hello or Close or Inventory or ManifestResponse or ErrorResponse or PutRecords or StoreStatus or StoredChunks).ToList();
        messages.Add(new ChunkResponse(5, Samples.Pattern(40, 9)));
        messages.Add(new StoreChunk(6, Samples.FileOf(1), 3, Samples.Pattern(40, 10)));
        foreach (var message in messages)
        {
            var frame = FrameCodec.Encode(message);
            for (var cut = 0; cut <= frame.Length; cut++)
            {
                var buffer = Sequences.SplitAt(frame, cut);
                Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadFrame(ref buffer, out var decoded, out var error));
                Assert.True(buffer.IsEmpty, $"{message.Type} split at {cut}: {error}");
                Samples.AssertSame(message, decoded);
            }

            for (var cut = 1; cut < frame.Length - 1; cut += 3)
            {
                var buffer = Sequences.SplitAt(frame, cut, cut + 1, Math.Min(frame.Length, cut + 33));
                Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadFrame(ref buffer, out var decoded, out _));
                Samples.AssertSame(message, decoded);
            }
        }
    }

    [Fact]
    public void Consecutive_frames_are_read_one_at_a_time()
    {
        var all = Samples.All.SelectMany(FrameCodec.Encode).ToArray();
        var buffer = Sequences.SplitAt(all, all.Length / 3, all.Length / 2);
        foreach (var message in Samples.All)
        {
            Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadFrame(ref buffer, out var decoded, out _));
            Samples.AssertSame(message, decoded);
        }

        Assert.True(buffer.IsEmpty);
        Assert.Equal(FrameStatus.NeedMoreData, FrameCodec.TryReadFrame(ref buffer, out _, out _));
    }

    [Theory]
    [MemberData(nameof(Indices))]
    public void Every_truncation_needs_more_data_and_leaves_the_buffer_alone(int index)
    {
        var frame = FrameCodec.Encode(Samples.All[index]);
        for (var length = 0; length < frame.Length; length++)
        {
            var original = Sequences.SplitAt(frame[..length], length / 2);
            var buffer = original;
            Assert.Equal(FrameStatus.NeedMoreData, FrameCodec.TryReadFrame(ref buffer, out var message, out var error));
            Assert.Null(message);
            Assert.Equal("", error);
            Assert.Equal(original, buffer);
        }
    }

    [Fact]
    public void Largest_allowed_messages_round_trip()
    {
        var maxName = string.Concat(Enumerable.Repeat("é", Hello.MaxNameBytes / 2));
        var entries = Enumerable.Range(0, Inventory.MaxEntries)
            .Select(i => new InventoryEntry(Samples.FileOf(i), new string('n', InventoryEntry.MaxNameBytes), i, 9, Samples.Bits(9, i % 9)))
            .ToArray();
        var page = Enumerable.Range(0, ManifestResponse.MaxEntriesPerPage)
            .Select(i => (ChunkingParameters.MaxSize - i, Samples.HashOf(i)))
            .ToArray();
        var putRecords = Enumerable.Range(0, PutRecords.MaxRecords)
            .Select(i => new PutRecord(Samples.FileOf(i), new string('n', PutRecord.MaxNameBytes), long.MaxValue - i, Manifest.MaxChunkCount, PutRecord.MaxReplicas, i, Samples.Device, i % 2 == 0))
            .ToArray();
        Message[] largest =
        [
            new Hello(1, Samples.Network, new byte[Hello.NonceSize], maxName, 1),
            new Close(CloseReason.ProtocolError, new string('x', Close.MaxTextBytes)),
            new ErrorResponse(1, ErrorCode.Busy, new string('x', ErrorResponse.MaxTextBytes)),
            new Inventory(true, entries),
            new Inventory(false, [new InventoryEntry(Samples.FileOf(1), "big", long.MaxValue, Manifest.MaxChunkCount, Bitfield.Full(Manifest.MaxChunkCount))]),
            new ManifestResponse(1, long.MaxValue, Manifest.MaxChunkCount, Manifest.MaxChunkCount - page.Length, page),
            new ChunkResponse(1, Samples.Pattern(ChunkingParameters.MaxSize, 4)),
            new StoreChunk(uint.MaxValue, Samples.FileOf(1), int.MaxValue, Samples.Pattern(ChunkingParameters.MaxSize, 5)),
            new PutRecords(putRecords),
            new StoredChunks(Samples.FileOf(1), Bitfield.Full(Manifest.MaxChunkCount)),
        ];

        Assert.Equal(Hello.MaxNameBytes, Encoding.UTF8.GetByteCount(maxName));
        foreach (var message in largest)
        {
            var frame = FrameCodec.Encode(message);
            Assert.True(frame.Length - FrameCodec.LengthPrefixSize <= FrameCodec.MaxFrameLength);
            var buffer = Sequences.SplitAt(frame, frame.Length / 2);
            Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadFrame(ref buffer, out var decoded, out var error));
            Assert.True(buffer.IsEmpty, error);
            Samples.AssertSame(message, decoded);
        }
    }

    [Fact]
    public void Decoded_store_chunk_data_is_a_copy_that_outlives_the_frame_buffer()
    {
        var data = Samples.Pattern(3000, 11);
        var frame = FrameCodec.Encode(new StoreChunk(1, Samples.FileOf(1), 2, data));
        var buffer = new ReadOnlySequence<byte>(frame);
        Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadFrame(ref buffer, out var decoded, out _));

        // The connection reuses its receive buffer once the frame is dispatched.
        Array.Fill(frame, (byte)0xAA);
        Assert.Equal(data, ((StoreChunk)decoded!).Data.ToArray());
    }

    [Fact]
    public void Put_messages_encode_as_specified()
    {
        var file = Samples.FileOf(1).Value.ToArray();
        var device = Samples.Device.Value.ToArray();
        Assert.Equal(
            new Wire().U32(0x01020304).Bytes(file).U32(7).Bytes([9, 8, 7]).Frame(MessageType.StoreChunk),
            FrameCodec.Encode(new StoreChunk(0x01020304, Samples.FileOf(1), 7, new byte[] { 9, 8, 7 })));
        Assert.Equal(new Wire().U32(5).U8(3).Frame(MessageType.StoreResult), FrameCodec.Encode(new StoreResult(5, StoreOutcome.HashMismatch)));
        Assert.Equal(new Wire().U64(100).U64(40).Frame(MessageType.StoreStatus), FrameCodec.Encode(new StoreStatus(100, 40)));

        var record = new PutRecord(Samples.FileOf(1), "a.txt", 10, 1, 3, -2, Samples.Device, true);
        Assert.Equal(
            new Wire().U16(1).Bytes(file).Str("a.txt").U64(10).U32(1).U8(3).U64(unchecked((ulong)-2L)).Bytes(device).U8(1).Frame(MessageType.PutRecords),
            FrameCodec.Encode(new PutRecords([record])));

        // Chunk 0 is the high bit of the first byte; chunks 5 and 9 follow, and the pad bits after chunk 9 stay zero.
        Assert.Equal(
            new Wire().Bytes(file).U32(10).Bytes([0x84, 0x40]).Frame(MessageType.StoredChunks),
            FrameCodec.Encode(new StoredChunks(Samples.FileOf(1), Samples.Bits(10, 0, 5, 9))));
        Assert.Equal(new Wire().Bytes(file).U32(0).Frame(MessageType.StoredChunks), FrameCodec.Encode(new StoredChunks(Samples.FileOf(1), new Bitfield(0))));
    }

    [Fact]
    public void Chunk_response_header_plus_data_matches_the_generic_encoding()
    {
        var data = Samples.Pattern(5000, 5);
        var frame = new byte[FrameCodec.ChunkResponseHeaderSize + data.Length];
        FrameCodec.WriteChunkResponseHeader(frame, 0xDEADBEEF, data.Length);
        data.CopyTo(frame, FrameCodec.ChunkResponseHeaderSize);
        Assert.Equal(FrameCodec.Encode(new ChunkResponse(0xDEADBEEF, data)), frame);

        var buffer = Sequences.SplitAt(frame, 3, 7, 100);
        Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadHeader(buffer, out var type, out var bodyLength, out _));
        Assert.Equal(MessageType.ChunkResponse, type);
        Assert.Equal(4 + data.Length, bodyLength);
        Assert.True(FrameCodec.TryParseChunkResponse(buffer.Slice(FrameCodec.HeaderSize, bodyLength), out var requestId, out var payload, out _));
        Assert.Equal(0xDEADBEEFu, requestId);
        Assert.Equal(data, payload.ToArray());
    }

    [Fact]
    public void Chunk_response_header_accepts_the_size_limits()
    {
        var header = new byte[FrameCodec.ChunkResponseHeaderSize];
        FrameCodec.WriteChunkResponseHeader(header, 1, 0);
        Assert.Equal(new byte[] { 0, 0, 0, 5, (byte)MessageType.ChunkResponse, 0, 0, 0, 1 }, header);

        FrameCodec.WriteChunkResponseHeader(header, 1, ChunkingParameters.MaxSize);
        Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadHeader(new ReadOnlySequence<byte>(header), out _, out var bodyLength, out _));
        Assert.Equal(4 + ChunkingParameters.MaxSize, bodyLength);
    }

    [Fact]
    public void Encoding_is_big_endian_as_specified()
    {
        var frame = FrameCodec.Encode(new Have(Samples.FileOf(1), 0x01020304));
        var expected = new Wire().Bytes(Samples.FileOf(1).Value.ToArray()).U32(0x01020304).Frame(MessageType.Have);
        Assert.Equal(expected, frame);
        Assert.Equal(new byte[] { 0, 0, 0, 37, 0x11 }, frame[..5]);

        var hello = new Hello(0x0102, Samples.Network, Samples.Pattern(32, 1), "ab", 0x0304);
        var expectedHello = new Wire().U16(0x0102).Bytes(Samples.Network.ToArray()).Bytes(hello.Nonce).Str("ab").U16(0x0304).Frame(MessageType.Hello);
        Assert.Equal(expectedHello, FrameCodec.Encode(hello));
    }
}
