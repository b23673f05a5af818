namespace Shoal.Storage.Tests;

public sealed class GroupFlushTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Many_files_flushed_at_once_all_complete()
    {
        await using var flush = new GroupFlush();
        var handles = Enumerable.Range(0, 200).Select(i => File.OpenHandle(_dir.Combine($"f{i}"), FileMode.CreateNew, FileAccess.ReadWrite)).ToList();
        try
        {
            foreach (var handle in handles) RandomAccess.Write(handle, new byte[4096], 0);
            await Task.WhenAll(handles.Select(flush.FlushAsync));
        }
        finally
        {
            foreach (var handle in handles) handle.Dispose();
        }

        Assert.All(Enumerable.Range(0, 200), i => Assert.Equal(4096, new FileInfo(_dir.Combine($"f{i}")).Length));
    }

    [Fact]
    public async Task A_failed_flush_faults_only_its_own_file()
    {
        await using var flush = new GroupFlush();
        using var good = File.OpenHandle(_dir.Combine("good"), FileMode.CreateNew, FileAccess.ReadWrite);
        var closed = File.OpenHandle(_dir.Combine("closed"), FileMode.CreateNew, FileAccess.ReadWrite);
        closed.Dispose();

        var failing = flush.FlushAsync(closed);
        var succeeding = flush.FlushAsync(good);

        await Assert.ThrowsAsync<ObjectDisposedException>(() => failing);
        await succeeding;
    }

    [Fact]
    public async Task After_dispose_a_flush_is_refused()
    {
        var flush = new GroupFlush();
        await flush.DisposeAsync();
        using var handle = File.OpenHandle(_dir.Combine("late"), FileMode.CreateNew, FileAccess.ReadWrite);

        await Assert.ThrowsAsync<ObjectDisposedException>(() => flush.FlushAsync(handle));
    }
}
