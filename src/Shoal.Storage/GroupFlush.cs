using System.Threading.Channels;
using Microsoft.Win32.SafeHandles;

namespace Shoal.Storage;

/// <summary>
/// Makes many files durable together. An fsync issued while other files are still being written commits the
/// journal for that one file, so a thousand small files written and flushed one by one cost a thousand journal
/// commits. Here the flushes asked for while a batch is being flushed wait for the next batch: the first fsync of a
/// batch commits what the others need, and they return almost at once.
/// </summary>
public sealed class GroupFlush : IAsyncDisposable
{
    private const int MaxBatch = 256;

    private readonly Channel<Pending> _pending = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;

    public GroupFlush() => _loop = Task.Run(LoopAsync);

    /// <summary>Completes once the file's data and metadata are on disk; faults with the fsync's error.</summary>
    public Task FlushAsync(SafeFileHandle handle)
    {
        var pending = new Pending(handle, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        return _pending.Writer.TryWrite(pending) ? pending.Done.Task : Task.FromException(new ObjectDisposedException(nameof(GroupFlush)));
    }

    private async Task LoopAsync()
    {
        var reader = _pending.Reader;
        var batch = new List<Pending>(MaxBatch);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < MaxBatch && reader.TryRead(out var pending)) batch.Add(pending);
            foreach (var pending in batch) Flush(pending);
            batch.Clear();
        }
    }

    private static void Flush(Pending pending)
    {
        try
        {
            RandomAccess.FlushToDisk(pending.Handle);
            pending.Done.TrySetResult();
        }
        catch (Exception e)
        {
            pending.Done.TrySetException(e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _pending.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
    }

    private sealed record Pending(SafeFileHandle Handle, TaskCompletionSource Done);
}
