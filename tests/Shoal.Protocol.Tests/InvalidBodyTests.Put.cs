using System.Buffers;
using Shoal.Core;

namespace Shoal.Protocol.Tests;

public partial class InvalidBodyTests
{
    private static Wire StorePrefix(uint chunkIndex = 0) => new Wire().U32(1).Bytes(Id).U32(chunkIndex);

    /// <summary>One put record, by default a valid live one; each field can be replaced.</summary>
    private static Wire PutList(
        int count = 1,
        byte[]? name = null,
        ulong size = 10,
        uint chunkCount = 1,
        int replicas = 3,
        ulong ticks = 5,
        int deleted = 0) =>
        new Wire().U16(count).Bytes(Id).RawStr(name ?? "a"u8.ToArray()).U64(size).U32(chunkCount).U8(replicas).U64(ticks)
            .Bytes(Samples.Device.Value.ToArray()).U8(deleted);

    private static Wire StoredPrefix(uint chunkCount) => new Wire().Bytes(Id).U32(chunkCount);

    private static T DecodeOk<T>(byte[] frame)
        where T : Message
    {
        var buffer = Sequences.OneBytePerSegment(frame);
        Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadFrame(ref buffer, out var message, out var error));
        Assert.True(buffer.IsEmpty, error);
        return Assert.IsType<T>(message);
    }

    [Fact]
    public void The_put_wire_helpers_build_valid_frames()
    {
        // Guards the tests below: each breaks exactly one thing in a frame that is otherwise accepted.
        Assert.Equal([7], DecodeOk<StoreChunk>(StorePrefix().U8(7).Frame(MessageType.StoreChunk)).Data.ToArray());
        var record = DecodeOk<PutRecords>(PutList().Frame(MessageType.PutRecords)).Records.Single();
        Assert.Equal(new PutRecord(Samples.FileOf(1), "a", 10, 1, 3, 5, Samples.Device, false), record);
        Assert.True(DecodeOk<PutRecords>(PutList(deleted: 1).Frame(MessageType.PutRecords)).Records[0].Deleted);
        Assert.Equal(255, DecodeOk<PutRecords>(PutList(replicas: 255).Frame(MessageType.PutRecords)).Records[0].Replicas);
        Assert.Equal(StoreOutcome.Full, DecodeOk<StoreResult>(new Wire().U32(1).U8(1).Frame(MessageType.StoreResult)).Outcome);
        Assert.Equal(new StoreStatus(long.MaxValue, 0), DecodeOk<StoreStatus>(new Wire().U64(long.MaxValue).U64(0).Frame(MessageType.StoreStatus)));
        var stored = DecodeOk<StoredChunks>(StoredPrefix(10).Bytes([0xFF, 0xC0]).Frame(MessageType.StoredChunks));
        Assert.Equal((Samples.FileOf(1), 10, 10), (stored.File, stored.Chunks.Length, stored.Chunks.SetCount));
        Assert.Equal(0, DecodeOk<StoredChunks>(StoredPrefix(0).Frame(MessageType.StoredChunks)).Chunks.Length);
    }

    [Fact]
    public void Store_chunk_data_must_be_one_byte_to_a_chunk()
    {
        AssertInvalid(StorePrefix().Frame(MessageType.StoreChunk), "outside");

        // Megabyte frames in two segments: one byte per segment would take millions of them.
        var oversized = Sequences.SplitAt(StorePrefix().Zeros(ChunkingParameters.MaxSize + 1).Frame(MessageType.StoreChunk), 3);
        var buffer = oversized;
        Assert.Equal(FrameStatus.Invalid, FrameCodec.TryReadFrame(ref buffer, out var message, out var error));
        Assert.Null(message);
        Assert.Contains("StoreChunk body", error);
        Assert.Equal(oversized, buffer);

        buffer = Sequences.SplitAt(StorePrefix().Zeros(ChunkingParameters.MaxSize).Frame(MessageType.StoreChunk), 20);
        Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadFrame(ref buffer, out message, out _));
        Assert.Equal(ChunkingParameters.MaxSize, Assert.IsType<StoreChunk>(message).Data.Length);
    }

    [Theory]
    [InlineData(0x80000000u)]
    [InlineData(uint.MaxValue)]
    public void Store_chunk_indices_past_int_max_are_rejected(uint chunkIndex) =>
        AssertInvalid(StorePrefix(chunkIndex).U8(1).Frame(MessageType.StoreChunk), "out of range");

    [Theory]
    [InlineData(5)]
    [InlineData(0x80)]
    [InlineData(0xFF)]
    public void Unknown_store_outcomes_are_rejected(int outcome) =>
        AssertInvalid(new Wire().U32(1).U8(outcome).Frame(MessageType.StoreResult), "unknown store outcome");

    [Fact]
    public void Put_records_over_the_limit_are_rejected()
    {
        AssertInvalid(new Wire().U16(PutRecords.MaxRecords + 1).Zeros(100).Frame(MessageType.PutRecords), "1025 records");
        AssertInvalid(new Wire().U16(0xFFFF).Frame(MessageType.PutRecords), "records");
    }

    [Fact]
    public void A_put_count_the_body_cannot_hold_is_rejected_before_allocating()
    {
        AssertInvalid(new Wire().U16(PutRecords.MaxRecords).Zeros(87).Frame(MessageType.PutRecords), "ends before");
        AssertInvalid(PutList(count: 2).Frame(MessageType.PutRecords), "ends before");
    }

    [Fact]
    public void Truncated_put_bodies_are_rejected_not_awaited()
    {
        var store = StorePrefix().U8(1).Body();
        var put = PutList().Body();
        var result = new Wire().U32(1).U8(0).Body();
        var status = new Wire().U64(1).U64(1).Body();
        var stored = StoredPrefix(10).Bytes([0xFF, 0xC0]).Body();

        // The frame's length prefix covers the shortened body, so the body itself is what comes up short.
        for (var length = 0; length < store.Length; length++) AssertInvalid(new Wire().Bytes(store.AsSpan(0, length)).Frame(MessageType.StoreChunk), "outside");
        for (var length = 2; length < put.Length; length++) AssertInvalid(new Wire().Bytes(put.AsSpan(0, length)).Frame(MessageType.PutRecords), "ends before");
        for (var length = 0; length < result.Length; length++) AssertInvalid(new Wire().Bytes(result.AsSpan(0, length)).Frame(MessageType.StoreResult), "outside");
        for (var length = 0; length < status.Length; length++) AssertInvalid(new Wire().Bytes(status.AsSpan(0, length)).Frame(MessageType.StoreStatus), "outside");
        for (var length = 0; length < 36; length++) AssertInvalid(new Wire().Bytes(stored.AsSpan(0, length)).Frame(MessageType.StoredChunks), "outside");
        for (var length = 36; length < stored.Length; length++) AssertInvalid(new Wire().Bytes(stored.AsSpan(0, length)).Frame(MessageType.StoredChunks), "ends before");
    }

    [Fact]
    public void A_put_name_running_past_the_body_is_rejected_not_awaited() =>
        AssertInvalid(new Wire().U16(1).Bytes(Id).U16(200).Zeros(87).Frame(MessageType.PutRecords), "ends before");

    [Theory]
    [InlineData(2)]
    [InlineData(0xFF)]
    public void The_deleted_byte_must_be_zero_or_one(int deleted) =>
        AssertInvalid(PutList(deleted: deleted).Frame(MessageType.PutRecords), "neither 0 nor 1");

    [Fact]
    public void Zero_replicas_are_rejected() => AssertInvalid(PutList(replicas: 0).Frame(MessageType.PutRecords), "0 replicas");

    [Fact]
    public void Put_record_fields_out_of_range_are_rejected()
    {
        AssertInvalid(PutList(size: 0x8000000000000000).Frame(MessageType.PutRecords), "out of range");
        AssertInvalid(PutList(chunkCount: Manifest.MaxChunkCount + 1).Frame(MessageType.PutRecords), "chunks");
        AssertInvalid(PutList(chunkCount: uint.MaxValue).Frame(MessageType.PutRecords), "chunks");
        AssertInvalid(PutList(name: new byte[PutRecord.MaxNameBytes + 1]).Frame(MessageType.PutRecords), "at most 255");
        AssertInvalid(PutList(name: [0xC3, 0x28]).Frame(MessageType.PutRecords), "not valid UTF-8");
        AssertInvalid(PutList(name: [0xED, 0xA0, 0x80]).Frame(MessageType.PutRecords), "not valid UTF-8");
    }

    [Fact]
    public void Negative_store_status_values_are_rejected()
    {
        AssertInvalid(new Wire().U64(0x8000000000000000).U64(0).Frame(MessageType.StoreStatus), "out of range");
        AssertInvalid(new Wire().U64(0).U64(ulong.MaxValue).Frame(MessageType.StoreStatus), "out of range");
    }

    [Fact]
    public void Stored_chunk_counts_over_the_limit_are_rejected()
    {
        AssertInvalid(StoredPrefix(Manifest.MaxChunkCount + 1).Frame(MessageType.StoredChunks), "1048577 chunks");
        AssertInvalid(StoredPrefix(Manifest.MaxChunkCount + 1).Zeros(100).Frame(MessageType.StoredChunks), "chunks");
        AssertInvalid(StoredPrefix(uint.MaxValue).Frame(MessageType.StoredChunks), "chunks");

        // The largest count with its whole bitfield is accepted; the header turns away a body one byte longer.
        var largest = StoredPrefix(Manifest.MaxChunkCount).Zeros(Manifest.MaxChunkCount / 8).Frame(MessageType.StoredChunks);
        var buffer = Sequences.SplitAt(largest, 20, 1000);
        Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadFrame(ref buffer, out var message, out var error));
        Assert.True(buffer.IsEmpty, error);
        Assert.Equal(Manifest.MaxChunkCount, Assert.IsType<StoredChunks>(message).Chunks.Length);
        var oversized = StoredPrefix(Manifest.MaxChunkCount + 8).Zeros((Manifest.MaxChunkCount / 8) + 1).Frame(MessageType.StoredChunks);
        buffer = new ReadOnlySequence<byte>(oversized);
        Assert.Equal(FrameStatus.Invalid, FrameCodec.TryReadFrame(ref buffer, out message, out error));
        Assert.Null(message);
        Assert.Contains("StoredChunks body", error);
    }

    [Fact]
    public void A_stored_chunk_bitfield_of_the_wrong_length_is_rejected()
    {
        AssertInvalid(StoredPrefix(20).Bytes([0xFF, 0xFF]).Frame(MessageType.StoredChunks), "ends before");
        AssertInvalid(StoredPrefix(9).Bytes([0xFF]).Frame(MessageType.StoredChunks), "ends before");
        AssertInvalid(StoredPrefix(8).Bytes([0xFF, 0x00]).Frame(MessageType.StoredChunks), "trailing");
        AssertInvalid(StoredPrefix(0).U8(0).Frame(MessageType.StoredChunks), "trailing");
    }

    [Theory]
    [InlineData(10u, new byte[] { 0xFF, 0xE0 })]
    [InlineData(10u, new byte[] { 0x00, 0x01 })]
    [InlineData(1u, new byte[] { 0x40 })]
    [InlineData(7u, new byte[] { 0x01 })]
    public void Stored_chunk_bitfields_with_bits_past_the_last_chunk_are_rejected(uint chunkCount, byte[] bits) =>
        AssertInvalid(StoredPrefix(chunkCount).Bytes(bits).Frame(MessageType.StoredChunks), "bitfield");

    [Fact]
    public void Put_bodies_with_trailing_bytes_are_rejected()
    {
        AssertInvalid(PutList().U8(0).Frame(MessageType.PutRecords), "trailing");
        AssertInvalid(new Wire().U16(0).U8(0).Frame(MessageType.PutRecords), "trailing");
        AssertInvalid(new Wire().U32(1).U8(0).U8(0).Frame(MessageType.StoreResult), "outside");
        AssertInvalid(new Wire().U64(1).U64(1).U8(0).Frame(MessageType.StoreStatus), "outside");
        AssertInvalid(StoredPrefix(10).Bytes([0xFF, 0xC0]).U8(0).Frame(MessageType.StoredChunks), "trailing");
    }
}
