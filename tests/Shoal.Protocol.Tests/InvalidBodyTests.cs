using System.Buffers;
using Shoal.Core;

namespace Shoal.Protocol.Tests;

public partial class InvalidBodyTests
{
    private static readonly byte[] Id = Samples.FileOf(1).Value.ToArray();

    private static void AssertInvalid(byte[] frame, string errorFragment)
    {
        foreach (var original in new[] { new ReadOnlySequence<byte>(frame), Sequences.OneBytePerSegment(frame) })
        {
            var buffer = original;
            Assert.Equal(FrameStatus.Invalid, FrameCodec.TryReadFrame(ref buffer, out var message, out var error));
            Assert.Null(message);
            Assert.Contains(errorFragment, error);
            Assert.Equal(original, buffer);
        }
    }

    private static Wire HelloPrefix() => new Wire().U16(1).Bytes(Samples.Network.ToArray()).Zeros(Hello.NonceSize);

    private static Wire InventoryWithOneEntry(string name, ulong size, uint chunkCount, int complete) =>
        new Wire().U8(0).U16(1).Bytes(Id).Str(name).U64(size).U32(chunkCount).U8(complete);

    private static Wire ManifestPage(ulong fileSize, uint total, uint first, uint count) =>
        new Wire().U32(1).U64(fileSize).U32(total).U32(first).U32(count);

    [Theory]
    [InlineData(new byte[] { 0xC3, 0x28 })]
    [InlineData(new byte[] { 0xC0, 0x80 })]
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })]
    [InlineData(new byte[] { 0xF4, 0x90, 0x80, 0x80 })]
    [InlineData(new byte[] { 0x61, 0xE2, 0x82 })]
    [InlineData(new byte[] { 0xFF })]
    public void Invalid_utf8_is_rejected_in_every_string_field(byte[] bad)
    {
        AssertInvalid(HelloPrefix().RawStr(bad).U16(1).Frame(MessageType.Hello), "not valid UTF-8");
        AssertInvalid(new Wire().U16(0).RawStr(bad).Frame(MessageType.Close), "not valid UTF-8");
        AssertInvalid(new Wire().U32(1).U16(1).RawStr(bad).Frame(MessageType.ErrorResponse), "not valid UTF-8");
        var inventory = new Wire().U8(0).U16(1).Bytes(Id).RawStr(bad).U64(1).U32(1).U8(1).Frame(MessageType.Inventory);
        AssertInvalid(inventory, "not valid UTF-8");
    }

    [Fact]
    public void Strings_over_their_field_limit_are_rejected()
    {
        AssertInvalid(InventoryWithOneEntry(new string('a', Protocol.InventoryEntry.MaxNameBytes + 1), 1, 1, 1).Frame(MessageType.Inventory), "at most 255");

        // Over the limit but within the frame's size bounds: the length field itself is what is checked.
        AssertInvalid(HelloPrefix().U16(Hello.MaxNameBytes + 1).Zeros(2).Frame(MessageType.Hello), "at most 128");
        AssertInvalid(new Wire().U16(0).U16(Close.MaxTextBytes + 1).Frame(MessageType.Close), "at most 1024");
        AssertInvalid(new Wire().U32(1).U16(1).U16(ErrorResponse.MaxTextBytes + 1).Frame(MessageType.ErrorResponse), "at most 1024");

        // The whole message is too large for its type, so the header alone rejects it.
        var longest = HelloPrefix().Str(new string('a', Hello.MaxNameBytes)).U16(1).Str(new string('1', Hello.MaxObservedAddressBytes));
        AssertInvalid(longest.U8(0).Frame(MessageType.Hello), "outside");
    }

    [Fact]
    public void A_hello_observed_address_is_left_out_when_empty_and_bounded_when_present()
    {
        AssertInvalid(HelloPrefix().Str("n").U16(1).U16(0).Frame(MessageType.Hello), "present but empty");
        AssertInvalid(HelloPrefix().Str("n").U16(1).Str(new string('1', Hello.MaxObservedAddressBytes + 1)).Frame(MessageType.Hello), "at most 64");
    }

    [Fact]
    public void A_string_running_past_the_body_is_rejected_not_awaited()
    {
        AssertInvalid(HelloPrefix().U16(20).Zeros(2).Frame(MessageType.Hello), "ends before");
        AssertInvalid(new Wire().U16(0).U16(10).Zeros(3).Frame(MessageType.Close), "ends before");
    }

    [Fact]
    public void Counts_over_their_limits_are_rejected()
    {
        var inventory = new Wire().U8(0).U16(Inventory.MaxEntries + 1).Zeros(100).Frame(MessageType.Inventory);
        AssertInvalid(inventory, "4097 entries");
        AssertInvalid(new Wire().U8(0).U16(0xFFFF).Frame(MessageType.Inventory), "entries");
        AssertInvalid(InventoryWithOneEntry("a", 1, Manifest.MaxChunkCount + 1, 1).Frame(MessageType.Inventory), "chunks");
        AssertInvalid(InventoryWithOneEntry("a", 1, uint.MaxValue, 0).Frame(MessageType.Inventory), "chunks");
        AssertInvalid(ManifestPage(1, Manifest.MaxChunkCount + 1, 0, 0).Frame(MessageType.ManifestResponse), "chunks");
        AssertInvalid(ManifestPage(1, Manifest.MaxChunkCount, 0, ManifestResponse.MaxEntriesPerPage + 1).Frame(MessageType.ManifestResponse), "entries");
        AssertInvalid(ManifestPage(1, 100, 0, uint.MaxValue).Frame(MessageType.ManifestResponse), "entries");
    }

    [Fact]
    public void A_count_the_body_cannot_hold_is_rejected_before_allocating()
    {
        AssertInvalid(new Wire().U8(0).U16(Inventory.MaxEntries).Zeros(46).Frame(MessageType.Inventory), "ends before");
        AssertInvalid(ManifestPage(1, 1000, 0, 1000).Zeros(36).Frame(MessageType.ManifestResponse), "ends before");
    }

    [Fact]
    public void Indices_past_int_max_are_rejected()
    {
        AssertInvalid(new Wire().Bytes(Id).U32(0x80000000).Frame(MessageType.Have), "out of range");
        AssertInvalid(new Wire().U32(1).Bytes(Id).U32(uint.MaxValue).Frame(MessageType.ChunkRequest), "out of range");
        AssertInvalid(new Wire().U32(1).Bytes(Id).U32(0x80000000).Frame(MessageType.ManifestRequest), "out of range");
        AssertInvalid(ManifestPage(1, 1, 0x80000000, 0).Frame(MessageType.ManifestResponse), "out of range");
    }

    [Fact]
    public void Sizes_past_long_max_are_rejected()
    {
        AssertInvalid(InventoryWithOneEntry("a", 0x8000000000000000, 1, 1).Frame(MessageType.Inventory), "out of range");
        AssertInvalid(ManifestPage(ulong.MaxValue, 0, 0, 0).Frame(MessageType.ManifestResponse), "out of range");
    }

    [Fact]
    public void Bitfields_with_bits_past_the_last_chunk_are_rejected()
    {
        AssertInvalid(InventoryWithOneEntry("a", 10, 10, 0).Bytes([0xFF, 0xE0]).Frame(MessageType.Inventory), "bitfield");
        AssertInvalid(InventoryWithOneEntry("a", 10, 1, 0).Bytes([0x40]).Frame(MessageType.Inventory), "bitfield");

        var valid = InventoryWithOneEntry("a", 10, 10, 0).Bytes([0xFF, 0xC0]).Frame(MessageType.Inventory);
        var buffer = new ReadOnlySequence<byte>(valid);
        Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadFrame(ref buffer, out var message, out _));
        Assert.Equal(10, ((Inventory)message!).Entries[0].Chunks!.SetCount);
    }

    [Fact]
    public void A_bitfield_running_past_the_body_is_rejected()
    {
        AssertInvalid(InventoryWithOneEntry("a", 10, 20, 0).Bytes([0xFF, 0xFF]).Frame(MessageType.Inventory), "ends before");
    }

    [Theory]
    [InlineData(2)]
    [InlineData(0xFF)]
    public void Completeness_must_be_zero_or_one(int complete) =>
        AssertInvalid(InventoryWithOneEntry("a", 10, 1, complete).Frame(MessageType.Inventory), "neither 0 nor 1");

    [Theory]
    [InlineData(0x02)]
    [InlineData(0x80)]
    [InlineData(0xFF)]
    public void Reserved_inventory_flags_are_rejected(int flags) =>
        AssertInvalid(new Wire().U8(flags).U16(0).Frame(MessageType.Inventory), "reserved");

    [Fact]
    public void Manifest_pages_past_the_total_are_rejected()
    {
        var twoEntries = new Wire().U32(5).Bytes(Id).U32(5).Bytes(Id).Body();
        AssertInvalid(ManifestPage(10, 2, 1, 2).Bytes(twoEntries).Frame(MessageType.ManifestResponse), "runs past");
        AssertInvalid(ManifestPage(0, 0, 1, 0).Frame(MessageType.ManifestResponse), "runs past");
        AssertInvalid(ManifestPage(10, 2, int.MaxValue, 2).Bytes(twoEntries).Frame(MessageType.ManifestResponse), "runs past");
    }

    [Theory]
    [InlineData(0u)]
    [InlineData((uint)ChunkingParameters.MaxSize + 1)]
    [InlineData(uint.MaxValue)]
    public void Manifest_chunk_lengths_outside_the_chunk_limits_are_rejected(uint length) =>
        AssertInvalid(ManifestPage(10, 2, 0, 1).U32(length).Bytes(Id).Frame(MessageType.ManifestResponse), "invalid length");

    [Fact]
    public void Trailing_bytes_are_rejected()
    {
        AssertInvalid(new Wire().U16(0).Str("bye").U8(0).Frame(MessageType.Close), "trailing");
        AssertInvalid(HelloPrefix().Str("n").U16(1).Str("1.2.3.4:5").U8(0).Frame(MessageType.Hello), "trailing");
        AssertInvalid(new Wire().U8(1).U16(0).U8(0).Frame(MessageType.Inventory), "trailing");
        AssertInvalid(InventoryWithOneEntry("a", 10, 10, 0).Bytes([0xFF, 0xC0, 0x00]).Frame(MessageType.Inventory), "trailing");
        AssertInvalid(ManifestPage(0, 0, 0, 0).Zeros(36).Frame(MessageType.ManifestResponse), "trailing");
        AssertInvalid(new Wire().U32(1).U16(1).Str("x").Zeros(1).Frame(MessageType.ErrorResponse), "trailing");
    }

    [Fact]
    public void Fixed_size_bodies_with_extra_bytes_are_rejected_by_size()
    {
        AssertInvalid(new Wire().U64(1).U8(0).Frame(MessageType.Ping), "outside");
        AssertInvalid(new Wire().U32(1).U8(0).Frame(MessageType.Cancel), "outside");
        AssertInvalid(new Wire().Bytes(Id).U8(0).Frame(MessageType.Removed), "outside");
    }

    [Theory]
    [InlineData(10)]
    [InlineData(99)]
    [InlineData(0xFFFF)]
    public void Unknown_close_reasons_are_rejected(int reason) =>
        AssertInvalid(new Wire().U16(reason).Str("").Frame(MessageType.Close), "unknown close reason");

    [Fact]
    public void A_busy_close_without_its_retry_after_is_rejected() =>
        AssertInvalid(new Wire().U16((int)CloseReason.Busy).Str("full").Frame(MessageType.Close), "ends before");

    [Theory]
    [InlineData(0)]
    [InlineData(6)]
    [InlineData(0xFFFF)]
    public void Unknown_error_codes_are_rejected(int code) =>
        AssertInvalid(new Wire().U32(1).U16(code).Str("").Frame(MessageType.ErrorResponse), "unknown error code");

    [Fact]
    public void TryDecode_rejects_bodies_of_the_wrong_size_for_the_type()
    {
        Assert.False(FrameCodec.TryDecode(MessageType.Ping, new ReadOnlySequence<byte>(new byte[7]), out var message, out var error));
        Assert.Null(message);
        Assert.Contains("outside", error);
        Assert.False(FrameCodec.TryDecode(MessageType.Auth, ReadOnlySequence<byte>.Empty, out _, out _));
        Assert.False(FrameCodec.TryParseChunkResponse(new ReadOnlySequence<byte>(new byte[3]), out _, out _, out _));
    }

    [Fact]
    public void A_revocation_list_must_match_its_count_and_limit()
    {
        AssertInvalid(new Wire().U16(2).Bytes(Id).Frame(MessageType.Revoked), "does not match its count");
        AssertInvalid(new Wire().U16(1).Bytes(Id).U8(0).Frame(MessageType.Revoked), "does not match its count");
        AssertInvalid(new Wire().U16(Revoked.MaxDevices + 1).Frame(MessageType.Revoked), "at most");
    }
}
