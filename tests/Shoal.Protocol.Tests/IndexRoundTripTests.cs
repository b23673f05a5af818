using System.Buffers;
using System.Text;
using Shoal.Core;
using Shoal.Core.Folder;

namespace Shoal.Protocol.Tests;

public class IndexRoundTripTests
{
    private const int FrameLimit = FrameCodec.LengthPrefixSize + FrameCodec.MaxFrameLength;

    private static Message RoundTrip(Message message)
    {
        var buffer = Sequences.SplitAt(FrameCodec.Encode(message), 7);
        Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadFrame(ref buffer, out var decoded, out var error));
        Assert.True(buffer.IsEmpty, error);
        return decoded!;
    }

    private static IndexUpdate Update(params FileRecord[] records) => new("folder", 42, false, records);

    /// <summary>The biggest record there can be: longest path, every version counter, the largest inline manifest.</summary>
    private static FileRecord LargestRecord(int seed, Manifest manifest)
    {
        var path = seed.ToString("d6") + new string('p', IndexUpdate.MaxPathBytes - 6);
        return new FileRecord(path, EntryKind.File, false, manifest.Size, seed, IndexUpdate.MaxPermissions, Samples.Device, Samples.FullVersion, seed, manifest.Id, manifest);
    }

    private static Manifest LargestInlineManifest() =>
        Manifest.FromLengthsAndHashes([.. Enumerable.Range(0, IndexUpdate.MaxInlineChunks).Select(i => (ChunkingParameters.MaxSize, Samples.HashOf(i)))]);

    /// <summary>What a sender does: fill each frame up to the limit by estimated size, never past the record count.</summary>
    private static List<IndexUpdate> Batch(IReadOnlyList<FileRecord> records)
    {
        var batches = new List<IndexUpdate>();
        var current = new List<FileRecord>();
        var bytes = FrameCodec.IndexUpdateOverhead;
        foreach (var record in records)
        {
            var size = FrameCodec.EstimateRecordSize(record);
            if (current.Count == IndexUpdate.MaxRecords || bytes + size > FrameLimit)
            {
                batches.Add(new IndexUpdate(new string('f', IndexUpdate.MaxFolderBytes), 1, batches.Count == 0, current));
                current = [];
                bytes = FrameCodec.IndexUpdateOverhead;
            }

            current.Add(record);
            bytes += size;
        }

        if (current.Count > 0) batches.Add(new IndexUpdate(new string('f', IndexUpdate.MaxFolderBytes), 1, batches.Count == 0, current));
        return batches;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Reset_round_trips_either_way(bool reset)
    {
        var update = new IndexUpdate("f", 7, reset, [Samples.DeletionRecord("x")]);
        var decoded = (IndexUpdate)RoundTrip(update);
        Assert.Equal(reset, decoded.Reset);
        Samples.AssertSame(update, decoded);
    }

    [Fact]
    public void Record_kinds_and_tombstones_keep_every_field()
    {
        var records = new[]
        {
            Samples.LiveFileRecord("f.txt", Samples.ManifestOf(3, 4)),
            Samples.LiveFileRecord("no-manifest", Samples.ManifestOf(3, 4), withManifest: false),
            Samples.DirectoryRecord("d"),
            Samples.DirectoryRecord("deleted-dir", deleted: true),
            Samples.DeletionRecord("deleted-file"),
            Samples.DeletionRecord("unversioned") with { Version = VersionVector.Empty },
        };
        var decoded = (IndexUpdate)RoundTrip(Update(records));
        for (var i = 0; i < records.Length; i++) Samples.AssertSameRecord(records[i], decoded.Records[i]);
        Assert.NotNull(decoded.Records[0].Manifest);
        Assert.Null(decoded.Records[1].Manifest);
        Assert.Equal(EntryKind.Directory, decoded.Records[3].Kind);
        Assert.True(decoded.Records[3].Deleted);
    }

    [Fact]
    public void Unicode_paths_and_folders_survive_intact()
    {
        var path = "Ordner/日本語/ünïcødé 🐟/" + new string('é', 100);
        var update = new IndexUpdate("fólder 🐟", 3, false, [Samples.LiveFileRecord(path, Samples.ManifestOf(1))]);
        var decoded = (IndexUpdate)RoundTrip(update);
        Assert.Equal("fólder 🐟", decoded.Folder);
        Assert.Equal(path, decoded.Records[0].Path);
    }

    [Fact]
    public void A_manifest_goes_inline_up_to_the_limit_and_is_left_out_past_it()
    {
        var atLimit = Samples.ManifestOf([.. Enumerable.Repeat(1, IndexUpdate.MaxInlineChunks)]);
        var pastLimit = Samples.ManifestOf([.. Enumerable.Repeat(1, IndexUpdate.MaxInlineChunks + 1)]);
        var inline = Samples.LiveFileRecord("at", atLimit);
        var omitted = Samples.LiveFileRecord("past", pastLimit);

        var decoded = (IndexUpdate)RoundTrip(Update(inline, omitted));
        Samples.AssertSameRecord(inline, decoded.Records[0]);
        Samples.AssertSameRecord(omitted with { Manifest = null }, decoded.Records[1]);
        Assert.Equal(pastLimit.Id, decoded.Records[1].Content);

        Assert.Equal(FrameCodec.EstimateRecordSize(omitted with { Manifest = null }), FrameCodec.EstimateRecordSize(omitted));
        var inlineBytes = 4 + (IndexUpdate.MaxInlineChunks * (4 + Hash256.Size));
        Assert.Equal(FrameCodec.EstimateRecordSize(inline with { Manifest = null }) + inlineBytes, FrameCodec.EstimateRecordSize(inline));
    }

    [Fact]
    public void The_record_layout_is_as_documented()
    {
        var manifest = Samples.ManifestOf(0x0102, 3);
        var version = Samples.Version((0x0A0B, 5), (0x0C0D, 6));
        var record = new FileRecord("d/é", EntryKind.File, false, manifest.Size, 0x1122334455667788, 0x1ED, Samples.Device, version, 9, manifest.Id, manifest);
        var expected = new Wire()
            .Str("f").U64(0x0102030405060708).U8(1).U16(1)
            .Str("d/é").U8(0).U8(0x02).U64(0x0105).U64(0x1122334455667788).U32(0x1ED).Bytes(Samples.Device.Value.ToArray())
            .U16(2).U64(0x0A0B).U64(5).U64(0x0C0D).U64(6)
            .U64(9).Bytes(manifest.Id.Value.ToArray())
            .U32(2).U32(0x0102).Bytes(manifest[0].Hash.ToArray()).U32(3).Bytes(manifest[1].Hash.ToArray())
            .Frame(MessageType.IndexUpdate);
        Assert.Equal(expected, FrameCodec.Encode(new IndexUpdate("f", 0x0102030405060708, true, [record])));

        var tombstone = new Wire().Str("f").U64(1).U8(0).U16(1)
            .Str("x").U8(1).U8(0x01).U64(0).U64(ulong.MaxValue).U32(0x1ED).Bytes(Samples.Device.Value.ToArray()).U16(1).U64(3).U64(4).U64(5).Zeros(Hash256.Size)
            .Frame(MessageType.IndexUpdate);
        Assert.Equal(tombstone, FrameCodec.Encode(new IndexUpdate("f", 1, false, [Samples.DirectoryRecord("x", deleted: true, sequence: 5)])));

        var request = new Wire().Str("music").U64(0x0102030405060708).U64(0x1112131415161718).Frame(MessageType.IndexRequest);
        Assert.Equal(request, FrameCodec.Encode(new IndexRequest("music", 0x0102030405060708, 0x1112131415161718)));
    }

    [Fact]
    public void The_estimate_is_exact_for_every_valid_record()
    {
        var update = (IndexUpdate)Samples.All.Last(m => m is IndexUpdate { Records.Count: > 0 });
        var empty = FrameCodec.GetFrameLength(update with { Records = [] });
        foreach (var record in update.Records)
        {
            Assert.Equal(FrameCodec.EstimateRecordSize(record), FrameCodec.GetFrameLength(update with { Records = [record] }) - empty);
        }

        Assert.Equal(FrameCodec.GetFrameLength(update), empty + update.Records.Sum(FrameCodec.EstimateRecordSize));
        Assert.True(empty <= FrameCodec.IndexUpdateOverhead);
    }

    [Fact]
    public void The_estimate_bounds_even_a_record_the_encoder_refuses()
    {
        var record = Samples.DeletionRecord("bad\uD800");
        Assert.Throws<ArgumentException>(() => FrameCodec.Encode(Update(record)));
        Assert.True(FrameCodec.EstimateRecordSize(record) >= FrameCodec.EstimateRecordSize(Samples.DeletionRecord("bad")) + 3);
    }

    [Fact]
    public void Largest_index_messages_round_trip()
    {
        var manifest = LargestInlineManifest();
        var largest = LargestRecord(1, manifest);
        Assert.Equal(IndexUpdate.MaxPathBytes, Encoding.UTF8.GetByteCount(largest.Path));
        var unicodePath = string.Concat(Enumerable.Repeat("🐟", IndexUpdate.MaxPathBytes / 4));
        var many = Enumerable.Range(0, IndexUpdate.MaxRecords).Select(i => Samples.DeletionRecord($"f{i}", i)).ToArray();
        Message[] messages =
        [
            Update(largest, largest with { Path = unicodePath }),
            new IndexUpdate(new string('f', IndexUpdate.MaxFolderBytes), ulong.MaxValue, true, many),
            new IndexRequest(new string('f', IndexRequest.MaxFolderBytes), ulong.MaxValue, long.MaxValue),
        ];

        foreach (var message in messages) Samples.AssertSame(message, RoundTrip(message));
    }

    [Fact]
    public void Batching_by_estimate_fills_frames_to_the_limit_without_passing_it()
    {
        var manifest = LargestInlineManifest();
        var maxRecord = FrameCodec.EstimateRecordSize(LargestRecord(0, manifest));
        var records = Enumerable.Range(0, 200).Select(i => LargestRecord(i, manifest)).ToArray();

        var batches = Batch(records);
        Assert.True(batches.Count >= 2);
        var decoded = new List<FileRecord>();
        foreach (var batch in batches)
        {
            var frame = FrameCodec.Encode(batch);
            Assert.True(frame.Length <= FrameLimit, $"{frame.Length} bytes");
            Assert.True(frame.Length <= FrameCodec.IndexUpdateOverhead + batch.Records.Sum(FrameCodec.EstimateRecordSize));
            decoded.AddRange(((IndexUpdate)RoundTrip(batch)).Records);
        }

        // Full: no room was left for one more record.
        Assert.True(FrameCodec.Encode(batches[0]).Length + maxRecord > FrameLimit);
        Assert.Equal(records.Length, decoded.Count);
        for (var i = 0; i < records.Length; i++) Samples.AssertSameRecord(records[i], decoded[i]);
    }

    [Fact]
    public void Batching_small_records_stops_at_the_record_limit()
    {
        var records = Enumerable.Range(0, IndexUpdate.MaxRecords + 10).Select(i => Samples.LiveFileRecord($"file {i}", Samples.ManifestOf(i + 1), i)).ToArray();
        var batches = Batch(records);
        Assert.Equal(new[] { IndexUpdate.MaxRecords, 10 }, batches.Select(b => b.Records.Count));
        foreach (var batch in batches) Samples.AssertSame(batch, RoundTrip(batch));
    }

    [Fact]
    public void An_index_update_decodes_identically_whatever_the_segmentation()
    {
        var update = Update(
            Samples.LiveFileRecord("a", Samples.ManifestOf(5, 6)),
            Samples.DirectoryRecord("b") with { Version = Samples.FullVersion },
            Samples.DeletionRecord("c"));
        var frame = FrameCodec.Encode(update);
        var buffer = Sequences.OneBytePerSegment(frame);
        Assert.Equal(FrameStatus.Ok, FrameCodec.TryReadFrame(ref buffer, out var decoded, out _));
        Samples.AssertSame(update, decoded);

        var body = new ReadOnlySequence<byte>(frame, FrameCodec.HeaderSize, frame.Length - FrameCodec.HeaderSize);
        Assert.True(FrameCodec.TryDecode(MessageType.IndexUpdate, body, out var fromBody, out _));
        Samples.AssertSame(update, fromBody);
    }
}
