using System.Security.Cryptography;
using Shoal.Core;

namespace Shoal.Storage.Tests;

public sealed class ChunkStoreTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string StorePath => _dir.Combine("home", "store");

    [Fact]
    public async Task A_stored_chunk_reads_back_and_survives_a_restart()
    {
        var data = RandomNumberGenerator.GetBytes(5000);
        var hash = Hash256.Compute(data);
        var store = new ChunkStore(StorePath, 1 << 20);

        Assert.Equal(ChunkStoreResult.Stored, await store.PutAsync(hash, data, CancellationToken.None));
        Assert.Equal(ChunkStoreResult.AlreadyHeld, await store.PutAsync(hash, data, CancellationToken.None));
        Assert.Equal(5000, store.UsedBytes);

        var reopened = new ChunkStore(StorePath, 1 << 20);
        Assert.True(reopened.Has(hash));
        Assert.Equal(5000, reopened.UsedBytes);
        var buffer = new byte[8000];
        Assert.Equal(5000, await reopened.ReadAsync(hash, buffer, CancellationToken.None));
        Assert.Equal(data, buffer[..5000]);
    }

    [Fact]
    public async Task Bytes_that_do_not_hash_right_are_refused_and_nothing_is_written()
    {
        var store = new ChunkStore(StorePath, 1 << 20);
        var data = RandomNumberGenerator.GetBytes(100);
        Assert.Equal(ChunkStoreResult.HashMismatch, await store.PutAsync(Hash256.Compute([1, 2, 3]), data, CancellationToken.None));
        Assert.Equal(0, store.Count);
        Assert.Empty(Directory.EnumerateFiles(StorePath, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task The_quota_is_never_exceeded()
    {
        var store = new ChunkStore(StorePath, 10_000);
        var chunks = Enumerable.Range(0, 5).Select(_ => RandomNumberGenerator.GetBytes(3000)).ToList();
        var results = await Task.WhenAll(chunks.Select(c => store.PutAsync(Hash256.Compute(c), c, CancellationToken.None).AsTask()));

        Assert.Equal(3, results.Count(r => r == ChunkStoreResult.Stored));
        Assert.Equal(2, results.Count(r => r == ChunkStoreResult.Full));
        Assert.Equal(9000, store.UsedBytes);
        Assert.Equal(1000, store.FreeBytes);
    }

    [Fact]
    public async Task Deleting_frees_the_space_and_leftover_temp_files_are_cleared_at_start()
    {
        var store = new ChunkStore(StorePath, 10_000);
        var data = RandomNumberGenerator.GetBytes(3000);
        var hash = Hash256.Compute(data);
        await store.PutAsync(hash, data, CancellationToken.None);
        var leftover = Path.Combine(StorePath, "ab", "abc.123.tmp");
        Directory.CreateDirectory(Path.GetDirectoryName(leftover)!);
        await File.WriteAllBytesAsync(leftover, data);

        Assert.True(store.Delete(hash));
        Assert.False(store.Delete(hash));
        Assert.Equal(0, store.UsedBytes);
        Assert.False(new ChunkStore(StorePath, 10_000).Has(hash));
        Assert.False(File.Exists(leftover));
    }
}
