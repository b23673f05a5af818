using System.Buffers;
using Shoal.Core;
using Shoal.Core.Folder;

namespace Shoal.Protocol.Tests;

public class WriteValidationTests
{
    private static readonly FileId File = Samples.FileOf(1);
    private static readonly byte[] Nonce = new byte[Hello.NonceSize];

    private static readonly FileRecord Live = Samples.LiveFileRecord("a", Samples.ManifestOf(3));

    private static IndexUpdate Update(FileRecord[] records) => new("f", 1, false, records);

    private static readonly PutRecord Put = new(File, "a", 1, 1, 3, 0, Samples.Device, false);

    private static PutRecords Puts(params PutRecord[] records) => new(records);

    private static InventoryEntry Entry(string name = "a", long size = 1, int chunkCount = 1, Bitfield? chunks = null) =>
        new(File, name, size, chunkCount, chunks);

    public static TheoryData<string> InvalidMessageNames => [.. InvalidMessages.Keys];

    private static readonly Dictionary<string, Func<Message>> InvalidMessages = new()
    {
        ["hello name over 128 bytes"] = () => new Hello(1, Samples.Network, Nonce, new string('a', Hello.MaxNameBytes + 1), 1),
        ["hello name over 128 bytes in 65 chars"] = () => new Hello(1, Samples.Network, Nonce, new string('é', 65), 1),
        ["hello name with a lone surrogate"] = () => new Hello(1, Samples.Network, Nonce, "bad\uD800", 1),
        ["hello name missing"] = () => new Hello(1, Samples.Network, Nonce, null!, 1),
        ["hello nonce too short"] = () => new Hello(1, Samples.Network, new byte[Hello.NonceSize - 1], "n", 1),
        ["hello nonce missing"] = () => new Hello(1, Samples.Network, null!, "n", 1),
        ["auth proof too long"] = () => new Auth(new byte[Auth.ProofSize + 1]),
        ["close text over 1024 bytes"] = () => new Close(CloseReason.Normal, new string('x', Close.MaxTextBytes + 1)),
        ["close reason undefined"] = () => new Close((CloseReason)99, ""),
        ["error text over 1024 bytes"] = () => new ErrorResponse(1, ErrorCode.Busy, new string('x', ErrorResponse.MaxTextBytes + 1)),
        ["error code undefined"] = () => new ErrorResponse(1, (ErrorCode)0, ""),
        ["inventory with too many entries"] = () => new Inventory(false, Enumerable.Repeat(Entry(), Inventory.MaxEntries + 1).ToArray()),
        ["inventory entries missing"] = () => new Inventory(false, null!),
        ["inventory entry missing"] = () => new Inventory(false, [null!]),
        ["inventory name over 255 bytes"] = () => new Inventory(false, [Entry(name: new string('a', 256))]),
        ["inventory negative size"] = () => new Inventory(false, [Entry(size: -1)]),
        ["inventory negative chunk count"] = () => new Inventory(false, [Entry(chunkCount: -1)]),
        ["inventory too many chunks"] = () => new Inventory(false, [Entry(chunkCount: Manifest.MaxChunkCount + 1)]),
        ["inventory bitfield of the wrong length"] = () => new Inventory(false, [Entry(chunkCount: 9, chunks: new Bitfield(8))]),
        ["inventory larger than a frame"] = () => new Inventory(false,
            Enumerable.Repeat(Entry(chunkCount: Manifest.MaxChunkCount, chunks: new Bitfield(Manifest.MaxChunkCount)), 33).ToArray()),
        ["have negative index"] = () => new Have(File, -1),
        ["manifest request negative first chunk"] = () => new ManifestRequest(1, File, int.MinValue),
        ["chunk request negative index"] = () => new ChunkRequest(1, File, -1),
        ["manifest page past the total"] = () => new ManifestResponse(1, 2, 1, 0, [(1, default), (1, default)]),
        ["manifest page starting past the total"] = () => new ManifestResponse(1, 0, 0, 1, []),
        ["manifest page with a zero-length chunk"] = () => new ManifestResponse(1, 1, 1, 0, [(0, default)]),
        ["manifest page with an oversize chunk"] = () => new ManifestResponse(1, 1, 1, 0, [(ChunkingParameters.MaxSize + 1, default)]),
        ["manifest page too long"] = () => new ManifestResponse(1, 1, Manifest.MaxChunkCount, 0,
            Enumerable.Repeat((1, default(Hash256)), ManifestResponse.MaxEntriesPerPage + 1).ToArray()),
        ["manifest negative file size"] = () => new ManifestResponse(1, -1, 0, 0, []),
        ["manifest too many chunks"] = () => new ManifestResponse(1, 1, Manifest.MaxChunkCount + 1, 0, []),
        ["manifest negative first chunk"] = () => new ManifestResponse(1, 1, 1, -1, []),
        ["manifest entries missing"] = () => new ManifestResponse(1, 1, 1, 0, null!),
        ["chunk response larger than a chunk"] = () => new ChunkResponse(1, new byte[ChunkingParameters.MaxSize + 1]),
        ["index request folder empty"] = () => new IndexRequest("", 1, 1),
        ["index request folder over 64 bytes"] = () => new IndexRequest(new string('é', 33), 1, 1),
        ["index request folder missing"] = () => new IndexRequest(null!, 1, 1),
        ["index request negative sequence"] = () => new IndexRequest("f", 1, -1),
        ["index update folder empty"] = () => Update([]) with { Folder = "" },
        ["index update folder over 64 bytes"] = () => Update([]) with { Folder = new string('f', 65) },
        ["index update epoch 0"] = () => Update([]) with { Epoch = 0 },
        ["index update records missing"] = () => Update(null!),
        ["index update record missing"] = () => Update([null!]),
        ["index update with too many records"] = () => Update(Enumerable.Repeat(Live, IndexUpdate.MaxRecords + 1).ToArray()),
        ["index update larger than a frame"] = () => Update(Enumerable.Repeat(Live with { Path = new string('p', 4096), Version = Samples.FullVersion }, 600).ToArray()),
        ["index record path empty"] = () => Update([Live with { Path = "" }]),
        ["index record path missing"] = () => Update([Live with { Path = null! }]),
        ["index record path over 4096 bytes"] = () => Update([Live with { Path = new string('é', 2049) }]),
        ["index record path with NUL"] = () => Update([Live with { Path = "a\0b" }]),
        ["index record path with a lone surrogate"] = () => Update([Live with { Path = "bad\uDC00" }]),
        ["index record kind undefined"] = () => Update([Live with { Kind = (EntryKind)2 }]),
        ["index record negative size"] = () => Update([Live with { Size = -1, Manifest = null }]),
        ["index record permissions over 0o7777"] = () => Update([Live with { Permissions = 0x1000 }]),
        ["index record version missing"] = () => Update([Live with { Version = null! }]),
        ["index record negative sequence"] = () => Update([Live with { Sequence = -1 }]),
        ["index directory with content"] = () => Update([Samples.DirectoryRecord("d") with { Content = File }]),
        ["index directory with a manifest"] = () => Update([Samples.DirectoryRecord("d") with { Manifest = Samples.ManifestOf() }]),
        ["index deletion with content"] = () => Update([Samples.DeletionRecord("d") with { Content = File }]),
        ["index deletion with a manifest"] = () => Update([Live with { Deleted = true }]),
        ["index manifest of other content"] = () => Update([Live with { Content = File }]),
        ["index manifest of another size"] = () => Update([Live with { Size = Live.Size + 1 }]),
        ["index manifest too long to inline of other content"] = () =>
            Update([Samples.LiveFileRecord("big", Samples.ManifestOf([.. Enumerable.Repeat(1, IndexUpdate.MaxInlineChunks + 1)])) with { Content = File }]),
        ["store chunk without data"] = () => new StoreChunk(1, File, 0, ReadOnlyMemory<byte>.Empty),
        ["store chunk larger than a chunk"] = () => new StoreChunk(1, File, 0, new byte[ChunkingParameters.MaxSize + 1]),
        ["store chunk negative index"] = () => new StoreChunk(1, File, -1, new byte[1]),
        ["store result outcome undefined"] = () => new StoreResult(1, (StoreOutcome)5),
        ["put records missing"] = () => Puts(null!),
        ["put record missing"] = () => Puts(null!, Put),
        ["put records too many"] = () => Puts([.. Enumerable.Repeat(Put, PutRecords.MaxRecords + 1)]),
        ["put record name over 255 bytes"] = () => Puts(Put with { Name = new string('é', 128) }),
        ["put record name missing"] = () => Puts(Put with { Name = null! }),
        ["put record name with a lone surrogate"] = () => Puts(Put with { Name = "bad\uD800" }),
        ["put record negative size"] = () => Puts(Put with { Size = -1 }),
        ["put record negative chunk count"] = () => Puts(Put with { ChunkCount = -1 }),
        ["put record too many chunks"] = () => Puts(Put with { ChunkCount = Manifest.MaxChunkCount + 1 }),
        ["put record zero replicas"] = () => Puts(Put with { Replicas = 0 }),
        ["put record negative replicas"] = () => Puts(Put with { Replicas = -1 }),
        ["put record replicas over a byte"] = () => Puts(Put with { Replicas = 256 }),
        ["store status negative quota"] = () => new StoreStatus(-1, 0),
        ["store status negative used bytes"] = () => new StoreStatus(0, long.MinValue),
        ["stored chunks bitfield missing"] = () => new StoredChunks(File, null!),
        ["stored chunks too many"] = () => new StoredChunks(File, new Bitfield(Manifest.MaxChunkCount + 1)),
    };

    [Theory]
    [MemberData(nameof(InvalidMessageNames))]
    public void Write_rejects_what_the_decoder_would_reject_and_writes_nothing(string name)
    {
        var message = InvalidMessages[name]();
        var output = new ArrayBufferWriter<byte>();
        Assert.ThrowsAny<ArgumentException>(() => FrameCodec.Write(message, output));
        Assert.Equal(0, output.WrittenCount);
        Assert.ThrowsAny<ArgumentException>(() => FrameCodec.Encode(message));
        Assert.ThrowsAny<ArgumentException>(() => FrameCodec.GetFrameLength(message));
    }

    [Fact]
    public void Write_rejects_null_arguments()
    {
        Assert.Throws<ArgumentNullException>(() => FrameCodec.Write(null!, new ArrayBufferWriter<byte>()));
        Assert.Throws<ArgumentNullException>(() => FrameCodec.Write(new Ping(1), null!));
        Assert.Throws<ArgumentNullException>(() => FrameCodec.Encode(null!));
    }

    [Fact]
    public void Chunk_response_header_rejects_bad_arguments()
    {
        Assert.Throws<ArgumentException>(() => FrameCodec.WriteChunkResponseHeader(new byte[FrameCodec.ChunkResponseHeaderSize - 1], 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => FrameCodec.WriteChunkResponseHeader(new byte[FrameCodec.ChunkResponseHeaderSize], 1, -1));
        Assert.Throws<ArgumentOutOfRangeException>(
            () => FrameCodec.WriteChunkResponseHeader(new byte[FrameCodec.ChunkResponseHeaderSize], 1, ChunkingParameters.MaxSize + 1));
    }
}
