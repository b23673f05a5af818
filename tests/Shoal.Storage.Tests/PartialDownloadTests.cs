using Shoal.Core;

namespace Shoal.Storage.Tests;

public sealed class PartialDownloadTests : IDisposable
{
    private readonly TestDirectory _dir = new();
    private readonly Catalog _catalog;
    private readonly TestContent _content = new(42, 1000, 3000, 2000, 500, 4000);

    public PartialDownloadTests() => _catalog = Catalog.Open(_dir.Combine("home", "catalog.db"));

    public void Dispose()
    {
        _catalog.Dispose();
        _dir.Dispose();
    }

    private string PartialPath => _dir.Combine("home", "partial", $"{_content.Manifest.Id}.part");

    private string TargetDirectory => _dir.Combine("downloads");

    [Fact]
    public async Task OpenAsync_NewDownload_PreallocatesTheFileWithNothingVerified()
    {
        await using var partial = await OpenAsync();

        Assert.True(partial.Verified.IsEmpty);
        Assert.Equal(_content.Manifest.ChunkCount, partial.Verified.Length);
        Assert.Equal(_content.Manifest.Size, new FileInfo(PartialPath).Length);
        Assert.Equal(PartialPath, partial.PartialPath);
    }

    [Fact]
    public async Task Reopen_AfterDisposeWithoutCompleting_HasExactlyTheWrittenChunks()
    {
        await using (var partial = await OpenAsync())
        {
            await WriteAsync(partial, 1, 3, 4);
            Assert.Equal([1, 3, 4], partial.Verified.SetIndices());
        }

        await using var reopened = await OpenAsync();
        Assert.Equal([1, 3, 4], reopened.Verified.SetIndices());
        Assert.Equal([1, 3, 4], _catalog.LoadVerifiedChunks(_content.Manifest.Id, _content.Manifest.ChunkCount).SetIndices());
    }

    [Fact]
    public async Task Reopen_WithACorruptedChunkOnDisk_DropsItFromVerifiedAndFromTheCatalog()
    {
        await using (var partial = await OpenAsync())
        {
            await WriteAsync(partial, 0, 2, 3);
        }

        using (var file = File.OpenHandle(PartialPath, FileMode.Open, FileAccess.Write))
        {
            RandomAccess.Write(file, [0xFF], _content.Manifest[2].Offset + 17);
        }

        await using var reopened = await OpenAsync();
        Assert.Equal([0, 3], reopened.Verified.SetIndices());
        Assert.Equal([0, 3], _catalog.LoadVerifiedChunks(_content.Manifest.Id, _content.Manifest.ChunkCount).SetIndices());
    }

    [Fact]
    public async Task Reopen_AfterThePartialFileWasLost_StartsOver()
    {
        await using (var partial = await OpenAsync())
        {
            await WriteAsync(partial, 0, 1);
        }

        File.Delete(PartialPath);

        await using var reopened = await OpenAsync();
        Assert.True(reopened.Verified.IsEmpty);
        Assert.True(_catalog.LoadVerifiedChunks(_content.Manifest.Id, _content.Manifest.ChunkCount).IsEmpty);
    }

    [Fact]
    public async Task ReadChunkAsync_ReturnsVerifiedChunksAndRefusesOthers()
    {
        await using var partial = await OpenAsync();
        await WriteAsync(partial, 1);
        var buffer = new byte[ChunkingParameters.MaxSize];

        var read = await partial.ReadChunkAsync(1, buffer, CancellationToken.None);

        Assert.Equal(_content.Chunk(1).ToArray(), buffer.AsSpan(0, read).ToArray());
        Assert.True(partial.IsVerified(1));
        Assert.False(partial.IsVerified(0));
        await Assert.ThrowsAsync<InvalidOperationException>(() => partial.ReadChunkAsync(0, buffer, CancellationToken.None).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => partial.ReadChunkAsync(1, new byte[10], CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task WriteVerifiedChunkAsync_WithTheWrongLengthOrIndex_Throws()
    {
        await using var partial = await OpenAsync();

        await Assert.ThrowsAsync<ArgumentException>(() => partial.WriteVerifiedChunkAsync(0, new byte[999], CancellationToken.None).AsTask());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => partial.WriteVerifiedChunkAsync(5, new byte[10], CancellationToken.None).AsTask());
        Assert.True(partial.Verified.IsEmpty);
    }

    [Fact]
    public async Task WriteVerifiedChunkAsync_ConcurrentlyFromManyTasks_RecordsEveryChunk()
    {
        var content = new TestContent(7, [.. Enumerable.Repeat(1000, 64)]);
        _catalog.UpsertDownload(NewDownload(content.Manifest));
        await using var partial = await PartialDownload.OpenAsync(_catalog, content.Manifest, PartialPath, CancellationToken.None);

        await Parallel.ForEachAsync(
            Enumerable.Range(0, 128),
            new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (i, token) => await partial.WriteVerifiedChunkAsync(i % 64, content.Chunk(i % 64), token));

        Assert.True(partial.IsComplete);
        Assert.True(_catalog.LoadVerifiedChunks(content.Manifest.Id, 64).IsComplete);
        Assert.Equal(content.Data, await File.ReadAllBytesAsync(PartialPath));
    }

    [Fact]
    public async Task CompleteAsync_MovesTheFileToItsFinalName()
    {
        await using var partial = await OpenAsync();
        await WriteAsync(partial, 4, 3, 2, 1, 0);

        var finalPath = await partial.CompleteAsync(TargetDirectory, "movie.mkv", CancellationToken.None);

        Assert.Equal(Path.Combine(TargetDirectory, "movie.mkv"), finalPath);
        Assert.Equal(_content.Data, await File.ReadAllBytesAsync(finalPath));
        Assert.False(File.Exists(PartialPath));
        Assert.Equal(["movie.mkv"], Directory.GetFileSystemEntries(TargetDirectory).Select(Path.GetFileName));
        Assert.Empty(Directory.GetFileSystemEntries(Path.GetDirectoryName(PartialPath)!));
    }

    [Fact]
    public async Task CompleteAsync_WhenTheNameIsTaken_NumbersTheName()
    {
        Directory.CreateDirectory(TargetDirectory);
        await File.WriteAllTextAsync(Path.Combine(TargetDirectory, "movie.mkv"), "someone else's");
        Directory.CreateDirectory(Path.Combine(TargetDirectory, "movie (1).mkv"));
        await using var partial = await OpenAsync();
        await WriteAsync(partial, 0, 1, 2, 3, 4);

        var finalPath = await partial.CompleteAsync(TargetDirectory, "movie.mkv", CancellationToken.None);

        Assert.Equal(Path.Combine(TargetDirectory, "movie (2).mkv"), finalPath);
        Assert.Equal(_content.Data, await File.ReadAllBytesAsync(finalPath));
        Assert.Equal("someone else's", await File.ReadAllTextAsync(Path.Combine(TargetDirectory, "movie.mkv")));
        Assert.Equal(["movie (1).mkv", "movie (2).mkv", "movie.mkv"], Directory.GetFileSystemEntries(TargetDirectory).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task CompleteAsync_WhenTheNameIsTakenAndHasNoExtension_AppendsTheNumber()
    {
        Directory.CreateDirectory(TargetDirectory);
        await File.WriteAllTextAsync(Path.Combine(TargetDirectory, ".profile"), "x");
        await using var partial = await OpenAsync();
        await WriteAsync(partial, 0, 1, 2, 3, 4);

        var finalPath = await partial.CompleteAsync(TargetDirectory, ".profile", CancellationToken.None);

        Assert.Equal(Path.Combine(TargetDirectory, ".profile (1)"), finalPath);
    }

    [Fact]
    public async Task CompleteAsync_WhenALongNameIsTaken_ShortensItToFitTheNumber()
    {
        var name = new string('é', 125) + "x.bin";
        Directory.CreateDirectory(TargetDirectory);
        await File.WriteAllTextAsync(Path.Combine(TargetDirectory, name), "x");
        await using var partial = await OpenAsync();
        await WriteAsync(partial, 0, 1, 2, 3, 4);

        var finalPath = await partial.CompleteAsync(TargetDirectory, name, CancellationToken.None);

        Assert.Equal(Path.Combine(TargetDirectory, new string('é', 123) + " (1).bin"), finalPath);
    }

    [Fact]
    public async Task CompleteAsync_WithMissingChunks_ThrowsAndLeavesTheDownloadUsable()
    {
        await using var partial = await OpenAsync();
        await WriteAsync(partial, 0, 1, 2, 4);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => partial.CompleteAsync(TargetDirectory, "movie.mkv", CancellationToken.None));
        Assert.Contains("1 of 5", error.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(PartialPath));
        Assert.False(Directory.Exists(TargetDirectory));

        await WriteAsync(partial, 3);
        var finalPath = await partial.CompleteAsync(TargetDirectory, "movie.mkv", CancellationToken.None);
        Assert.Equal(_content.Data, await File.ReadAllBytesAsync(finalPath));
    }

    [Fact]
    public async Task CompleteAsync_WithAnUnsafeName_Throws()
    {
        await using var partial = await OpenAsync();
        await WriteAsync(partial, 0, 1, 2, 3, 4);

        await Assert.ThrowsAsync<ArgumentException>(() => partial.CompleteAsync(TargetDirectory, "../escape.bin", CancellationToken.None));
        Assert.True(File.Exists(PartialPath));
    }

    [Fact]
    public async Task AfterCompleteAsync_ChunksCanStillBeServedButNotCompletedTwice()
    {
        await using var partial = await OpenAsync();
        await WriteAsync(partial, 0, 1, 2, 3, 4);
        await partial.CompleteAsync(TargetDirectory, "movie.mkv", CancellationToken.None);
        var buffer = new byte[ChunkingParameters.MaxSize];

        var read = await partial.ReadChunkAsync(4, buffer, CancellationToken.None);
        await partial.WriteVerifiedChunkAsync(4, _content.Chunk(4), CancellationToken.None);

        Assert.Equal(_content.Chunk(4).ToArray(), buffer.AsSpan(0, read).ToArray());
        await Assert.ThrowsAsync<InvalidOperationException>(() => partial.CompleteAsync(TargetDirectory, "movie.mkv", CancellationToken.None));
    }

    [Fact]
    public async Task CompleteAsync_ForAnEmptyFile_CreatesAnEmptyFile()
    {
        var empty = Manifest.FromLengthsAndHashes([]);
        _catalog.UpsertDownload(NewDownload(empty));
        var partialPath = _dir.Combine("home", "partial", $"{empty.Id}.part");
        await using var partial = await PartialDownload.OpenAsync(_catalog, empty, partialPath, CancellationToken.None);

        var finalPath = await partial.CompleteAsync(TargetDirectory, "empty.txt", CancellationToken.None);

        Assert.Equal(0, new FileInfo(finalPath).Length);
        Assert.False(File.Exists(partialPath));
    }

    [Fact]
    public async Task CompleteAsync_AfterMoreThanTheBackgroundFlushThreshold_HasAllTheBytes()
    {
        var content = new TestContent(9, [.. Enumerable.Repeat(ChunkingParameters.MaxSize, 17)]);
        _catalog.UpsertDownload(NewDownload(content.Manifest));
        await using var partial = await PartialDownload.OpenAsync(_catalog, content.Manifest, PartialPath, CancellationToken.None);
        for (var i = 0; i < content.Manifest.ChunkCount; i++)
        {
            await partial.WriteVerifiedChunkAsync(i, content.Chunk(i), CancellationToken.None);
        }

        var finalPath = await partial.CompleteAsync(TargetDirectory, "big.bin", CancellationToken.None);

        Assert.Equal(content.Data, await File.ReadAllBytesAsync(finalPath));
    }

    /// <summary>
    /// Needs a second file system: /dev/shm is tmpfs on Linux, while the temp directory is on the disk. Elsewhere
    /// (or when both happen to be one file system) the test still passes through the rename path.
    /// </summary>
    [Fact]
    public async Task CompleteAsync_IntoAnotherFileSystem_CopiesThenRenames()
    {
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/dev/shm")) return;
        var target = Path.Combine("/dev/shm", "shoal-storage-tests-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var partial = await OpenAsync();
            await WriteAsync(partial, 0, 1, 2, 3, 4);

            var finalPath = await partial.CompleteAsync(target, "movie.mkv", CancellationToken.None);

            Assert.Equal(Path.Combine(target, "movie.mkv"), finalPath);
            Assert.Equal(_content.Data, await File.ReadAllBytesAsync(finalPath));
            Assert.Equal(["movie.mkv"], Directory.GetFileSystemEntries(target).Select(Path.GetFileName));
            Assert.False(File.Exists(PartialPath));

            var buffer = new byte[ChunkingParameters.MaxSize];
            var read = await partial.ReadChunkAsync(2, buffer, CancellationToken.None);
            Assert.Equal(_content.Chunk(2).ToArray(), buffer.AsSpan(0, read).ToArray());
        }
        finally
        {
            if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        }
    }

    private async Task<PartialDownload> OpenAsync()
    {
        _catalog.UpsertDownload(NewDownload(_content.Manifest));
        return await PartialDownload.OpenAsync(_catalog, _content.Manifest, PartialPath, CancellationToken.None);
    }

    private async Task WriteAsync(PartialDownload partial, params int[] indices)
    {
        foreach (var index in indices)
        {
            await partial.WriteVerifiedChunkAsync(index, _content.Chunk(index), CancellationToken.None);
        }
    }

    private DownloadRecord NewDownload(Manifest manifest) =>
        new(manifest.Id, "file", manifest.Size, TargetDirectory, PartialPath, DownloadStatus.Active, DateTimeOffset.UnixEpoch, null, null);
}
