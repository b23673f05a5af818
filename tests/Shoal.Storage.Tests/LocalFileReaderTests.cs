using Shoal.Testing;
namespace Shoal.Storage.Tests;

public sealed class LocalFileReaderTests : IDisposable
{
    private readonly TestDirectory _dir = new();
    private readonly ManualTimeProvider _time = new();
    private readonly LocalFileReader _reader;

    public LocalFileReaderTests() => _reader = new LocalFileReader(_time, maxOpenFiles: 4);

    public void Dispose()
    {
        _reader.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task ReadChunkAsync_ReadsEveryChunkAtItsOffset()
    {
        var content = new TestContent(1, 700, 1300, 1, 999);
        var file = Share(content, "a.bin");
        var buffer = new byte[2000];

        for (var i = content.Manifest.ChunkCount - 1; i >= 0; i--)
        {
            Array.Fill(buffer, (byte)0xAA);
            await _reader.ReadChunkAsync(file, i, buffer, CancellationToken.None);

            var length = content.Manifest[i].Length;
            Assert.Equal(content.Chunk(i).ToArray(), buffer[..length]);
            Assert.All(buffer[length..], b => Assert.Equal(0xAA, b));
        }

        Assert.Equal(1, _reader.OpenFileCount);
    }

    [Fact]
    public async Task ReadChunkAsync_WithABadIndexOrSmallBuffer_Throws()
    {
        var content = new TestContent(2, 100, 200);
        var file = Share(content, "a.bin");

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _reader.ReadChunkAsync(file, 2, new byte[200], CancellationToken.None).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => _reader.ReadChunkAsync(file, 1, new byte[199], CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task ReadChunkAsync_AfterTheSizeChanged_ThrowsOnceTheStatExpires()
    {
        var content = new TestContent(3, 100, 200);
        var file = Share(content, "a.bin");
        var buffer = new byte[200];
        await _reader.ReadChunkAsync(file, 0, buffer, CancellationToken.None);

        await File.AppendAllTextAsync(file.Path, "more");
        File.SetLastWriteTimeUtc(file.Path, file.LastWriteUtc);

        // Within the stat's lifetime the file is not looked at again.
        _time.Advance(TimeSpan.FromMilliseconds(900));
        await _reader.ReadChunkAsync(file, 1, buffer, CancellationToken.None);

        _time.Advance(TimeSpan.FromMilliseconds(100));
        var error = await Assert.ThrowsAsync<FileChangedException>(() => _reader.ReadChunkAsync(file, 1, buffer, CancellationToken.None).AsTask());
        Assert.Equal(file.Path, error.FilePath);
        Assert.Equal(0, _reader.OpenFileCount);
    }

    [Fact]
    public async Task ReadChunkAsync_AfterTheWriteTimeChanged_Throws()
    {
        var content = new TestContent(4, 100, 200);
        var file = Share(content, "a.bin");
        var buffer = new byte[200];
        await _reader.ReadChunkAsync(file, 0, buffer, CancellationToken.None);

        File.SetLastWriteTimeUtc(file.Path, file.LastWriteUtc.AddSeconds(-5));
        _time.Advance(TimeSpan.FromSeconds(2));

        await Assert.ThrowsAsync<FileChangedException>(() => _reader.ReadChunkAsync(file, 0, buffer, CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task ReadChunkAsync_WhenTheRecordIsStale_Throws()
    {
        var content = new TestContent(5, 100);
        var file = Share(content, "a.bin");

        await Assert.ThrowsAsync<FileChangedException>(
            () => _reader.ReadChunkAsync(file with { LastWriteUtc = file.LastWriteUtc.AddTicks(1) }, 0, new byte[100], CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task ReadChunkAsync_OfAMissingFile_ThrowsFileNotFound()
    {
        var content = new TestContent(6, 100);
        var file = Share(content, "a.bin");
        var buffer = new byte[100];

        await Assert.ThrowsAsync<FileNotFoundException>(
            () => _reader.ReadChunkAsync(file with { Path = _dir.Combine("nope.bin") }, 0, buffer, CancellationToken.None).AsTask());
        await Assert.ThrowsAsync<FileNotFoundException>(
            () => _reader.ReadChunkAsync(file with { Path = _dir.Combine("no-dir", "a.bin") }, 0, buffer, CancellationToken.None).AsTask());

        await _reader.ReadChunkAsync(file, 0, buffer, CancellationToken.None);
        File.Delete(file.Path);
        _time.Advance(TimeSpan.FromSeconds(1));

        await Assert.ThrowsAsync<FileNotFoundException>(() => _reader.ReadChunkAsync(file, 0, buffer, CancellationToken.None).AsTask());
        Assert.Equal(0, _reader.OpenFileCount);
    }

    [Fact]
    public async Task ReadChunkAsync_AfterTheFileWasReplacedAndReindexed_ReadsTheNewContent()
    {
        var old = Share(new TestContent(7, 100), "a.bin");
        var buffer = new byte[300];
        await _reader.ReadChunkAsync(old, 0, buffer, CancellationToken.None);

        var content = new TestContent(8, 300);
        var current = Share(content, "a.bin");
        _time.Advance(TimeSpan.FromSeconds(1));

        await Assert.ThrowsAsync<FileChangedException>(() => _reader.ReadChunkAsync(old, 0, buffer, CancellationToken.None).AsTask());
        await _reader.ReadChunkAsync(current, 0, buffer, CancellationToken.None);
        Assert.Equal(content.Data, buffer);
    }

    [Fact]
    public async Task ReadChunkAsync_OfMoreFilesThanItKeepsOpen_ClosesTheLeastRecentlyUsed()
    {
        var files = Enumerable.Range(0, 10).Select(i => (Content: new TestContent(10 + i, 50, 60), Name: $"f{i}.bin")).ToArray();
        var shared = files.Select(f => Share(f.Content, f.Name)).ToArray();
        var buffer = new byte[60];

        for (var round = 0; round < 2; round++)
        {
            for (var i = 0; i < files.Length; i++)
            {
                await _reader.ReadChunkAsync(shared[i], 1, buffer, CancellationToken.None);
                Assert.Equal(files[i].Content.Chunk(1).ToArray(), buffer);
                Assert.Equal(Math.Min(i + 1 + (round * files.Length), 4), _reader.OpenFileCount);
            }
        }
    }

    [Fact]
    public async Task ReadChunkAsync_ConcurrentlyOverManyFiles_ReadsTheRightBytes()
    {
        var files = Enumerable.Range(0, 12).Select(i => new TestContent(30 + i, 300, 200, 100)).ToArray();
        var shared = files.Select((c, i) => Share(c, $"f{i}.bin")).ToArray();

        await Parallel.ForEachAsync(
            Enumerable.Range(0, 600),
            new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (n, token) =>
            {
                var (file, chunk) = (n % files.Length, n / files.Length % 3);
                var buffer = new byte[300];
                await _reader.ReadChunkAsync(shared[file], chunk, buffer, token);
                Assert.Equal(files[file].Chunk(chunk).ToArray(), buffer[..files[file].Manifest[chunk].Length]);
            });

        Assert.True(_reader.OpenFileCount <= 4);
    }

    [Fact]
    public async Task Dispose_ThenRead_Throws()
    {
        var file = Share(new TestContent(9, 100), "a.bin");
        await _reader.ReadChunkAsync(file, 0, new byte[100], CancellationToken.None);

        _reader.Dispose();

        Assert.Equal(0, _reader.OpenFileCount);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => _reader.ReadChunkAsync(file, 0, new byte[100], CancellationToken.None).AsTask());
    }

    private LocalFile Share(TestContent content, string name)
    {
        var path = _dir.Combine(name);
        File.WriteAllBytes(path, content.Data);
        return new LocalFile(
            content.Manifest.Id,
            name,
            content.Manifest.Size,
            content.Manifest,
            path,
            File.GetLastWriteTimeUtc(path),
            LocalFileKind.Shared,
            DateTimeOffset.UnixEpoch);
    }
}
