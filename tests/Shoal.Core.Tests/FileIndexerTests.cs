using Shoal.Core;

namespace Shoal.Core.Tests;

public class FileIndexerTests
{
    private const int Mebibyte = 1024 * 1024;

    [Theory]
    [InlineData(1)]
    [InlineData(ChunkingParameters.MinSize)]
    [InlineData(ChunkingParameters.MinSize + 1)]
    [InlineData(ChunkingParameters.MaxSize + ChunkBufferPool.Granularity - 1)]
    [InlineData(ChunkingParameters.MaxSize + ChunkBufferPool.Granularity)]
    [InlineData(8 * Mebibyte)]
    [InlineData(8 * Mebibyte + 1)]
    [InlineData(21 * Mebibyte + 12345)]
    public async Task ManifestHasTheChunkerChunksAndTheirSha256(int size)
    {
        var data = TestData.Random(size, seed: size);

        var manifest = await FileIndexer.IndexAsync(new MemoryStream(data), null, CancellationToken.None);

        Assert.Equal(size, manifest.Size);
        Assert.Equal(TestData.ChunkLengths(data), manifest.Chunks.Select(c => c.Length));
        Assert.Equal(TestData.ChunkHashes(data), manifest.Chunks.Select(c => c.Hash));
    }

    [Fact]
    public async Task EmptyDataHasNoChunks()
    {
        var manifest = await FileIndexer.IndexAsync(new MemoryStream(), null, CancellationToken.None);

        Assert.Equal(0, manifest.Size);
        Assert.Empty(manifest.Chunks);
        Assert.Equal(Manifest.ComputeId(0, []), manifest.Id);
    }

    [Fact]
    public async Task IndexingAFileEqualsIndexingAStreamOfItsBytes()
    {
        var data = TestData.Random(13 * Mebibyte + 777, seed: 1);
        var path = Path.Combine(Path.GetTempPath(), $"shoal-core-tests-{Guid.NewGuid():N}.bin");
        try
        {
            await File.WriteAllBytesAsync(path, data);

            var fromFile = await FileIndexer.IndexFileAsync(path, null, CancellationToken.None);
            var fromStream = await FileIndexer.IndexAsync(new MemoryStream(data), null, CancellationToken.None);

            Assert.Equal(fromStream.Id, fromFile.Id);
            Assert.Equal(fromStream.Chunks, fromFile.Chunks);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task ShortReadsDoNotChangeTheManifest()
    {
        var data = TestData.Random(11 * Mebibyte + 5, seed: 2);

        var whole = await FileIndexer.IndexAsync(new MemoryStream(data), null, CancellationToken.None);
        var trickled = await FileIndexer.IndexAsync(new TrickleStream(data, 7001), null, CancellationToken.None);

        Assert.Equal(whole.Id, trickled.Id);
    }

    [Fact]
    public async Task ASmallStreamThatCannotSeekGivesTheSameManifest()
    {
        var data = TestData.Random((3 * Mebibyte) + 17, seed: 8);

        var whole = await FileIndexer.IndexAsync(new MemoryStream(data), null, CancellationToken.None);
        var trickled = await FileIndexer.IndexAsync(new TrickleStream(data, 65537), null, CancellationToken.None);

        Assert.Equal(whole.Id, trickled.Id);
    }

    [Fact]
    public async Task AFileThatGrowsWhileIndexedIsIndexedToItsEnd()
    {
        // Its length says 1 MiB when indexing starts, so it is read into one small buffer, which it then overflows.
        var data = TestData.Random(10 * Mebibyte, seed: 9);

        var grown = await FileIndexer.IndexAsync(new GrowingStream(data, Mebibyte), null, CancellationToken.None);

        Assert.Equal(data.Length, grown.Size);
        Assert.Equal(TestData.ChunkLengths(data), grown.Chunks.Select(c => c.Length));
        Assert.Equal(TestData.ChunkHashes(data), grown.Chunks.Select(c => c.Hash));
    }

    [Fact]
    public async Task SameBytesGiveTheSameIdAndDifferentBytesADifferentOne()
    {
        var data = TestData.Random(3 * Mebibyte, seed: 3);
        var changed = data.ToArray();
        changed[2 * Mebibyte] ^= 1;

        var first = await FileIndexer.IndexAsync(new MemoryStream(data), null, CancellationToken.None);
        var again = await FileIndexer.IndexAsync(new MemoryStream(data.ToArray()), null, CancellationToken.None);
        var other = await FileIndexer.IndexAsync(new MemoryStream(changed), null, CancellationToken.None);
        var shorter = await FileIndexer.IndexAsync(new MemoryStream(data, 0, data.Length - 1), null, CancellationToken.None);

        Assert.Equal(first.Id, again.Id);
        Assert.NotEqual(first.Id, other.Id);
        Assert.NotEqual(first.Id, shorter.Id);
    }

    [Fact]
    public async Task ProgressRisesToTheSize()
    {
        var data = TestData.Random(9 * Mebibyte + 3, seed: 4);
        var progress = new RecordingProgress();

        await FileIndexer.IndexAsync(new MemoryStream(data), progress, CancellationToken.None);

        Assert.NotEmpty(progress.Values);
        Assert.Equal(progress.Values.Order(), progress.Values);
        Assert.Equal(data.Length, progress.Values[^1]);
    }

    [Fact]
    public async Task CancellationStopsIndexing()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => FileIndexer.IndexAsync(new MemoryStream(TestData.Random(Mebibyte, seed: 5)), null, cts.Token));
    }

    [Fact]
    public async Task AReadErrorIsReported()
    {
        var stream = new TrickleStream(TestData.Random(20 * Mebibyte, seed: 6), 1024 * 1024) { FailAfter = 12 * Mebibyte };

        await Assert.ThrowsAsync<IOException>(() => FileIndexer.IndexAsync(stream, null, CancellationToken.None));
    }

    [Fact]
    public async Task AHashingSideErrorIsReported()
    {
        var progress = new RecordingProgress { FailAt = 3 };

        await Assert.ThrowsAsync<InvalidOperationException>(
            () => FileIndexer.IndexAsync(new MemoryStream(TestData.Random(40 * Mebibyte, seed: 7)), progress, CancellationToken.None));
    }

    [Fact]
    public async Task AMissingFileIsReported()
    {
        var path = Path.Combine(Path.GetTempPath(), $"shoal-core-tests-{Guid.NewGuid():N}.missing");

        await Assert.ThrowsAsync<FileNotFoundException>(() => FileIndexer.IndexFileAsync(path, null, CancellationToken.None));
    }

    /// <summary>Reports synchronously, unlike <see cref="Progress{T}"/>, so the values can be checked afterwards.</summary>
    private sealed class RecordingProgress : IProgress<long>
    {
        public List<long> Values { get; } = [];

        public int FailAt { get; init; } = -1;

        public void Report(long value)
        {
            if (Values.Count == FailAt) throw new InvalidOperationException("progress consumer failed");
            Values.Add(value);
        }
    }

    /// <summary>A file being appended to: it reports the length it had when indexing began, and reads find more.</summary>
    private sealed class GrowingStream(byte[] data, long lengthAtStart) : MemoryStream(data)
    {
        public override long Length => lengthAtStart;
    }

    /// <summary>Hands out at most a few bytes per read, like a slow pipe.</summary>
    private sealed class TrickleStream(byte[] data, int maxRead) : Stream
    {
        private int _position;

        public long FailAfter { get; init; } = long.MaxValue;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_position >= FailAfter) throw new IOException("the disk went away");
            var count = Math.Min(Math.Min(buffer.Length, maxRead), data.Length - _position);
            data.AsSpan(_position, count).CopyTo(buffer);
            _position += count;
            return count;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
