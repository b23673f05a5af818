using System.Buffers;
using System.Text;
using Shoal.Core;
using Shoal.Core.Folder;

namespace Shoal.Protocol.Tests;

public partial class InvalidBodyTests
{
    private static readonly byte[] NoContent = new byte[Hash256.Size];

    private static Wire UpdatePrefix(int count, int flags = 0, ulong epoch = 1) => new Wire().Str("f").U64(epoch).U8(flags).U16(count);

    /// <summary>One record, by default a live file without an inline manifest; each field can be replaced.</summary>
    private static Wire Record(
        byte[]? path = null,
        int kind = 0,
        int flags = 0,
        ulong size = 30,
        uint permissions = Samples.FileMode,
        byte[]? version = null,
        ulong sequence = 1,
        byte[]? content = null) =>
        UpdatePrefix(1)
            .RawStr(path ?? "a"u8.ToArray()).U8(kind).U8(flags).U64(size).U64(0).U32(permissions).Bytes(Samples.Device.Value.ToArray())
            .Bytes(version ?? Samples.Version((1, 1)).ToBytes()).U64(sequence).Bytes(content ?? Id);

    /// <summary>A live file record announcing an inline manifest, followed by <paramref name="chunks"/> as its entries.</summary>
    private static Wire InlineRecord(ulong size, Hash256 content, params (uint Length, Hash256 Hash)[] chunks)
    {
        var wire = Record(flags: 0x02, size: size, content: content.ToArray()).U32((uint)chunks.Length);
        foreach (var (length, hash) in chunks) wire.U32(length).Bytes(hash.ToArray());
        return wire;
    }

    private static (uint, Hash256)[] EntriesOf(Manifest manifest) => [.. manifest.Chunks.Select(c => ((uint)c.Length, c.Hash))];

    private static byte[] VersionWire(params (ulong Device, ulong Value)[] counters)
    {
        var wire = new Wire().U16(counters.Length);
        foreach (var (device, value) in counters) wire.U64(device).U64(value);
        return wire.Body();
    }

    private static void AssertValid(byte[] frame)
    {
        var buffer = new ReadOnlySequence<byte>(frame);
        Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadFrame(ref buffer, out _, out var error));
        Assert.True(buffer.IsEmpty, error);
    }

    [Fact]
    public void The_index_wire_helpers_build_valid_frames()
    {
        // Guards the tests below: each breaks exactly one thing in a frame that is otherwise accepted.
        AssertValid(Record().Frame(MessageType.IndexUpdate));
        AssertValid(Record(kind: 1, content: NoContent).Frame(MessageType.IndexUpdate));
        AssertValid(Record(flags: 0x01, content: NoContent).Frame(MessageType.IndexUpdate));
        var manifest = Samples.ManifestOf(10, 20);
        AssertValid(InlineRecord(30, manifest.Id.Value, EntriesOf(manifest)).Frame(MessageType.IndexUpdate));
        AssertValid(new Wire().Str("f").U64(0).U64(0).Frame(MessageType.IndexRequest));
    }

    [Fact]
    public void Index_request_fields_out_of_bounds_are_rejected()
    {
        AssertInvalid(new Wire().Str("").U64(1).U64(1).U8(0).Frame(MessageType.IndexRequest), "folder is empty");
        AssertInvalid(new Wire().U16(IndexRequest.MaxFolderBytes + 1).Zeros(IndexRequest.MaxFolderBytes).Frame(MessageType.IndexRequest), "at most 64");
        AssertInvalid(new Wire().Str(new string('f', IndexRequest.MaxFolderBytes + 1)).U64(1).U64(1).Frame(MessageType.IndexRequest), "outside");
        AssertInvalid(new Wire().Str("f").U64(1).U64(0x8000000000000000).Frame(MessageType.IndexRequest), "out of range");
        AssertInvalid(new Wire().Str("f").U64(1).U64(1).U8(0).Frame(MessageType.IndexRequest), "trailing");
        AssertInvalid(new Wire().Str("fffff").U64(1).U32(1).Frame(MessageType.IndexRequest), "ends before");
    }

    [Fact]
    public void Index_update_header_fields_out_of_bounds_are_rejected()
    {
        AssertInvalid(UpdatePrefix(0, epoch: 0).Frame(MessageType.IndexUpdate), "epoch 0");
        AssertInvalid(new Wire().Str("").U64(1).U8(0).U16(0).U8(0).Frame(MessageType.IndexUpdate), "folder is empty");
        AssertInvalid(new Wire().Str(new string('f', IndexUpdate.MaxFolderBytes + 1)).U64(1).U8(0).U16(0).Frame(MessageType.IndexUpdate), "at most 64");
        AssertInvalid(UpdatePrefix(IndexUpdate.MaxRecords + 1).Zeros(200).Frame(MessageType.IndexUpdate), "4097 records");
        AssertInvalid(UpdatePrefix(0xFFFF).Frame(MessageType.IndexUpdate), "records");
        AssertInvalid(UpdatePrefix(0).U8(0).Frame(MessageType.IndexUpdate), "trailing");
        AssertInvalid(Record().U8(0).Frame(MessageType.IndexUpdate), "trailing");
    }

    [Theory]
    [InlineData(0x02)]
    [InlineData(0x80)]
    [InlineData(0xFF)]
    public void Reserved_index_update_flags_are_rejected(int flags) =>
        AssertInvalid(UpdatePrefix(0, flags).Frame(MessageType.IndexUpdate), "reserved");

    [Fact]
    public void A_record_count_the_body_cannot_hold_is_rejected_before_allocating()
    {
        AssertInvalid(UpdatePrefix(IndexUpdate.MaxRecords).Zeros(500).Frame(MessageType.IndexUpdate), "ends before");
        AssertInvalid(UpdatePrefix(2).Bytes(Record().Body()[UpdatePrefix(0).Body().Length..]).Frame(MessageType.IndexUpdate), "ends before");
    }

    [Fact]
    public void Record_paths_must_be_present_bounded_and_free_of_nul()
    {
        AssertInvalid(Record(path: []).Frame(MessageType.IndexUpdate), "path is empty");
        AssertInvalid(Record(path: Encoding.UTF8.GetBytes(new string('a', IndexUpdate.MaxPathBytes + 1))).Frame(MessageType.IndexUpdate), "at most 4096");
        AssertInvalid(Record(path: "a\0b"u8.ToArray()).Frame(MessageType.IndexUpdate), "NUL");
        AssertInvalid(Record(path: [0]).Frame(MessageType.IndexUpdate), "NUL");
        AssertValid(Record(path: Encoding.UTF8.GetBytes(new string('a', IndexUpdate.MaxPathBytes))).Frame(MessageType.IndexUpdate));
    }

    [Theory]
    [InlineData(new byte[] { 0xC3, 0x28 })]
    [InlineData(new byte[] { 0xC0, 0x80 })]
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })]
    [InlineData(new byte[] { 0x61, 0xE2, 0x82 })]
    [InlineData(new byte[] { 0xFF })]
    public void Invalid_utf8_is_rejected_in_index_strings(byte[] bad)
    {
        AssertInvalid(Record(path: bad).Frame(MessageType.IndexUpdate), "not valid UTF-8");
        AssertInvalid(new Wire().RawStr(bad).U64(1).U8(0).U16(0).Frame(MessageType.IndexUpdate), "not valid UTF-8");
        AssertInvalid(new Wire().RawStr(bad).U64(1).U64(1).Frame(MessageType.IndexRequest), "not valid UTF-8");
    }

    [Theory]
    [InlineData(2)]
    [InlineData(0xFF)]
    public void Unknown_entry_kinds_are_rejected(int kind) =>
        AssertInvalid(Record(kind: kind).Frame(MessageType.IndexUpdate), "unknown entry kind");

    [Theory]
    [InlineData(0x04)]
    [InlineData(0x80)]
    [InlineData(0xFF)]
    public void Reserved_record_flags_are_rejected(int flags) =>
        AssertInvalid(Record(flags: flags).Frame(MessageType.IndexUpdate), "reserved bits");

    [Fact]
    public void Record_numbers_out_of_range_are_rejected()
    {
        AssertInvalid(Record(size: 0x8000000000000000).Frame(MessageType.IndexUpdate), "size");
        AssertInvalid(Record(sequence: 0x8000000000000000).Frame(MessageType.IndexUpdate), "sequence");
        AssertInvalid(Record(sequence: ulong.MaxValue).Frame(MessageType.IndexUpdate), "out of range");
        AssertInvalid(Record(permissions: IndexUpdate.MaxPermissions + 1).Frame(MessageType.IndexUpdate), "permissions");
        AssertInvalid(Record(permissions: uint.MaxValue).Frame(MessageType.IndexUpdate), "permissions");
        AssertValid(Record(size: long.MaxValue, sequence: long.MaxValue, permissions: IndexUpdate.MaxPermissions).Frame(MessageType.IndexUpdate));
    }

    [Fact]
    public void Versions_must_be_canonical_and_bounded()
    {
        AssertInvalid(Record(version: new Wire().U16(VersionVector.MaxCounters + 1).Body()).Frame(MessageType.IndexUpdate), "at most 256");
        AssertInvalid(Record(version: VersionWire((1, 0))).Frame(MessageType.IndexUpdate), "version counters");
        AssertInvalid(Record(version: VersionWire((1, 1), (1, 2))).Frame(MessageType.IndexUpdate), "version counters");
        AssertInvalid(Record(version: VersionWire((2, 1), (1, 1))).Frame(MessageType.IndexUpdate), "version counters");
        AssertInvalid(UpdatePrefix(1).Str("a").U8(0).U8(0).U64(0).U64(0).U32(0).Bytes(Id).U16(200).Zeros(60).Frame(MessageType.IndexUpdate), "ends before");
        AssertValid(Record(version: VersionWire((1, 1), (2, ulong.MaxValue))).Frame(MessageType.IndexUpdate));
    }

    [Theory]
    [InlineData(1, 0x00)]
    [InlineData(0, 0x01)]
    [InlineData(1, 0x01)]
    public void Directories_and_deletions_carry_no_content(int kind, int flags)
    {
        AssertInvalid(Record(kind: kind, flags: flags).Frame(MessageType.IndexUpdate), "carries content");
        AssertInvalid(Record(kind: kind, flags: flags | 0x02, content: NoContent).U32(0).Frame(MessageType.IndexUpdate), "carries content");
        AssertValid(Record(kind: kind, flags: flags, content: NoContent).Frame(MessageType.IndexUpdate));
    }

    [Fact]
    public void Inline_manifests_must_be_bounded_and_well_formed()
    {
        var hash = Samples.HashOf(1);
        AssertInvalid(Record(flags: 0x02).Frame(MessageType.IndexUpdate), "ends before");
        var tooMany = Record(flags: 0x02).U32(IndexUpdate.MaxInlineChunks + 1).Zeros((IndexUpdate.MaxInlineChunks + 1) * 36);
        AssertInvalid(tooMany.Frame(MessageType.IndexUpdate), "at most 1024");
        AssertInvalid(Record(flags: 0x02).U32(10).Zeros(36 * 9).Frame(MessageType.IndexUpdate), "ends before");
        AssertInvalid(InlineRecord(30, hash, (0, hash)).Frame(MessageType.IndexUpdate), "invalid length");
        AssertInvalid(InlineRecord(30, hash, ((uint)ChunkingParameters.MaxSize + 1, hash)).Frame(MessageType.IndexUpdate), "invalid length");
        AssertInvalid(InlineRecord(30, hash, (uint.MaxValue, hash)).Frame(MessageType.IndexUpdate), "invalid length");
    }

    [Fact]
    public void Inline_manifests_must_match_the_record()
    {
        var manifest = Samples.ManifestOf(10, 20);
        var entries = EntriesOf(manifest);
        AssertInvalid(InlineRecord(31, manifest.Id.Value, entries).Frame(MessageType.IndexUpdate), "covers 30 bytes");
        AssertInvalid(InlineRecord(30, Samples.HashOf(5), entries).Frame(MessageType.IndexUpdate), "does not hash");
        AssertInvalid(InlineRecord(30, manifest.Id.Value, (10, entries[0].Item2), (20, Samples.HashOf(9))).Frame(MessageType.IndexUpdate), "does not hash");
        AssertInvalid(InlineRecord(30, manifest.Id.Value, (20, entries[0].Item2), (10, entries[1].Item2)).Frame(MessageType.IndexUpdate), "does not hash");

        var empty = Samples.ManifestOf();
        AssertValid(InlineRecord(0, empty.Id.Value).Frame(MessageType.IndexUpdate));
        AssertInvalid(InlineRecord(0, default).Frame(MessageType.IndexUpdate), "does not hash");
    }

    [Fact]
    public void Errors_name_the_offending_record()
    {
        var frame = UpdatePrefix(2).Bytes(Record().Body()[UpdatePrefix(0).Body().Length..]).Bytes(Record(kind: 9).Body()[UpdatePrefix(0).Body().Length..]);
        AssertInvalid(frame.Frame(MessageType.IndexUpdate), "index record 1: unknown entry kind 9");
    }

    [Fact]
    public void Index_bodies_truncated_at_every_position_are_rejected()
    {
        var update = new IndexUpdate("folder", 9, true,
        [
            Samples.LiveFileRecord("a/b", Samples.ManifestOf(5, 6, 7)),
            Samples.LiveFileRecord("c", Samples.ManifestOf(5), withManifest: false),
            Samples.DirectoryRecord("a"),
            Samples.DeletionRecord("gone"),
        ]);
        foreach (var message in new Message[] { update, new IndexRequest("folder", 3, 4) })
        {
            var body = FrameCodec.Encode(message)[FrameCodec.HeaderSize..];
            for (var length = 0; length < body.Length; length++)
            {
                var truncated = body[..length];
                Assert.False(FrameCodec.TryDecode(message.Type, Sequences.SplitAt(truncated, length / 2), out var decoded, out var error));
                Assert.Null(decoded);
                Assert.NotEqual("", error);

                var buffer = new ReadOnlySequence<byte>(new Wire().Bytes(truncated).Frame(message.Type));
                Assert.Equal(FrameStatus.Invalid, FrameCodec.TryReadFrame(ref buffer, out _, out _));
            }
        }
    }
}
