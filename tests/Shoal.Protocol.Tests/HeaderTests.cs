using System.Buffers;
using System.Buffers.Binary;
using Shoal.Core;

namespace Shoal.Protocol.Tests;

public class HeaderTests
{
    private static ReadOnlySequence<byte> Prefix(uint length, params byte[] rest)
    {
        var bytes = new byte[4 + rest.Length];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, length);
        rest.CopyTo(bytes, 4);
        return new ReadOnlySequence<byte>(bytes);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData((uint)FrameCodec.MaxFrameLength + 1)]
    [InlineData(0x80000000u)]
    [InlineData(0xFFFFFFFFu)]
    public void Bad_lengths_are_invalid_from_the_four_length_bytes_alone(uint length)
    {
        var buffer = Prefix(length);
        Assert.Equal(FrameStatus.Invalid, FrameCodec.TryReadHeader(buffer, out _, out _, out var error));
        Assert.NotEqual("", error);

        var original = buffer;
        Assert.Equal(FrameStatus.Invalid, FrameCodec.TryReadFrame(ref buffer, out var message, out _));
        Assert.Null(message);
        Assert.Equal(original, buffer);
    }

    [Fact]
    public void A_bad_length_split_across_segments_is_still_caught_early()
    {
        var buffer = Sequences.SplitAt([0xFF, 0xFF, 0xFF, 0xFF], 1, 2, 3);
        Assert.Equal(FrameStatus.Invalid, FrameCodec.TryReadHeader(buffer, out _, out _, out _));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    public void Fewer_than_four_bytes_need_more_data(int available)
    {
        var buffer = new ReadOnlySequence<byte>(new byte[] { 0xFF, 0xFF, 0xFF }, 0, available);
        Assert.Equal(FrameStatus.NeedMoreData, FrameCodec.TryReadHeader(buffer, out _, out _, out var error));
        Assert.Equal("", error);
    }

    [Theory]
    [InlineData(1u)]
    [InlineData(9u)]
    [InlineData((uint)FrameCodec.MaxFrameLength)]
    public void A_valid_length_without_its_type_byte_needs_more_data(uint length) =>
        Assert.Equal(FrameStatus.NeedMoreData, FrameCodec.TryReadHeader(Prefix(length), out _, out _, out _));

    [Theory]
    [InlineData(0x00)]
    [InlineData(0x06)]
    [InlineData(0x14)]
    [InlineData(0x26)]
    [InlineData(0xFF)]
    public void Unknown_types_are_invalid_from_the_header(byte type)
    {
        Assert.Equal(FrameStatus.Invalid, FrameCodec.TryReadHeader(Prefix(9, type), out _, out _, out var error));
        Assert.Contains("unknown message type", error);

        var frame = new Wire().U64(1).Frame(type);
        var buffer = new ReadOnlySequence<byte>(frame);
        Assert.Equal(FrameStatus.Invalid, FrameCodec.TryReadFrame(ref buffer, out _, out _));
        Assert.False(FrameCodec.TryDecode((MessageType)type, new ReadOnlySequence<byte>(frame, 5, 8), out var message, out _));
        Assert.Null(message);
    }

    [Fact]
    public void The_header_reports_type_and_body_length_before_the_body_arrives()
    {
        var buffer = Prefix(1 + 8, (byte)MessageType.Ping);
        Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadHeader(buffer, out var type, out var bodyLength, out _));
        Assert.Equal(MessageType.Ping, type);
        Assert.Equal(8, bodyLength);
        Assert.Equal(FrameStatus.NeedMoreData, FrameCodec.TryReadFrame(ref buffer, out _, out _));
    }

    [Theory]
    [InlineData(MessageType.Ping, 9)]
    [InlineData(MessageType.Ping, 7)]
    [InlineData(MessageType.Auth, 33)]
    [InlineData(MessageType.Hello, 53)]
    [InlineData(MessageType.Hello, 249)]
    [InlineData(MessageType.Close, 1031)]
    [InlineData(MessageType.Cancel, 0)]
    [InlineData(MessageType.Inventory, 2)]
    [InlineData(MessageType.ManifestResponse, 24 + (65536 * 36) + 1)]
    [InlineData(MessageType.ChunkResponse, 3)]
    [InlineData(MessageType.ChunkResponse, 4 + ChunkingParameters.MaxSize + 1)]
    [InlineData(MessageType.ErrorResponse, 1033)]
    [InlineData(MessageType.IndexRequest, 18)]
    [InlineData(MessageType.IndexRequest, 18 + 64 + 1)]
    [InlineData(MessageType.IndexUpdate, 13)]
    [InlineData(MessageType.StoreChunk, 40)]
    [InlineData(MessageType.StoreChunk, 40 + ChunkingParameters.MaxSize + 1)]
    [InlineData(MessageType.StoreResult, 4)]
    [InlineData(MessageType.StoreResult, 6)]
    [InlineData(MessageType.PutRecords, 1)]
    [InlineData(MessageType.PutRecords, 2 + (1024 * (88 + 255)) + 1)]
    [InlineData(MessageType.StoreStatus, 15)]
    [InlineData(MessageType.StoreStatus, 17)]
    [InlineData(MessageType.StoredChunks, 35)]
    [InlineData(MessageType.StoredChunks, 36 + (1 << 17) + 1)]
    public void Body_sizes_no_valid_message_can_have_are_rejected_before_buffering(MessageType type, int bodyLength)
    {
        Assert.Equal(FrameStatus.Invalid, FrameCodec.TryReadHeader(Prefix((uint)bodyLength + 1, (byte)type), out _, out _, out var error));
        Assert.Contains(type.ToString(), error);
    }

    [Fact]
    public void The_largest_frame_is_accepted_for_an_inventory()
    {
        var buffer = Prefix(FrameCodec.MaxFrameLength, (byte)MessageType.Inventory);
        Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadHeader(buffer, out _, out var bodyLength, out _));
        Assert.Equal(FrameCodec.MaxFrameLength - 1, bodyLength);
    }

    [Fact]
    public void The_constants_match_the_wire_format()
    {
        Assert.Equal(4, FrameCodec.LengthPrefixSize);
        Assert.Equal(5, FrameCodec.HeaderSize);
        Assert.Equal(9, FrameCodec.ChunkResponseHeaderSize);
        Assert.Equal(ChunkingParameters.MaxSize + 64, FrameCodec.MaxFrameLength);
        Assert.Equal(0x40, (byte)MessageType.StoreChunk);
        Assert.Equal(0x41, (byte)MessageType.StoreResult);
        Assert.Equal(0x42, (byte)MessageType.PutRecords);
        Assert.Equal(0x43, (byte)MessageType.StoreStatus);
        Assert.Equal(0x44, (byte)MessageType.StoredChunks);
    }

    [Fact]
    public void A_maximum_size_store_chunk_fits_the_largest_frame()
    {
        // Request id, file id and chunk index, then the data.
        const int bodyLength = 4 + 32 + 4 + ChunkingParameters.MaxSize;
        Assert.True(1 + bodyLength <= FrameCodec.MaxFrameLength);
        Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadHeader(Prefix(1 + bodyLength, (byte)MessageType.StoreChunk), out var type, out var length, out _));
        Assert.Equal(MessageType.StoreChunk, type);
        Assert.Equal(bodyLength, length);
    }
}
