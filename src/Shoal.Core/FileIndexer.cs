using System.Runtime.ExceptionServices;
using System.Threading.Channels;

namespace Shoal.Core;

/// <summary>
/// Builds a file's <see cref="Manifest"/>: chunks it with <see cref="GearChunker"/> and hashes each chunk.
/// Memory use is a few fixed buffers whatever the file size (one of the file's size for a file smaller than a buffer);
/// reading and chunking run on one core while hashing runs on another.
/// </summary>
public static class FileIndexer
{
    // The largest chunk plus 64 KiB: the unchunked tail carried over from a full buffer is always shorter than MaxSize,
    // so every refill reads at least 64 KiB new bytes (usually megabytes) and a full buffer always holds a chunk. It is
    // also the pool's size for the largest chunk frame, so once a file is indexed these buffers serve chunks; twice the
    // largest chunk, as before, left the pool 24 MiB of arrays no chunk fits, dropped as garbage as soon as it needed room.
    private const int BufferSize = ChunkingParameters.MaxSize + ChunkBufferPool.Granularity;

    // One being filled and chunked, one being hashed, two queued between them so neither side waits: as fast as three of
    // twice the size, measured on 1 GiB.
    private const int BufferCount = 4;

    /// <summary>Indexes the file at <paramref name="path"/>; see <see cref="IndexAsync"/>.</summary>
    public static async Task<Manifest> IndexFileAsync(string path, IProgress<long>? bytesProgress, CancellationToken ct)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.Open,
            Access = FileAccess.Read,
            Share = FileShare.Read,
            Options = FileOptions.SequentialScan | FileOptions.Asynchronous,
            // Reads are already BufferSize large; a FileStream buffer would only add a copy.
            BufferSize = 0,
        };
        var stream = new FileStream(path, options);
        await using (stream.ConfigureAwait(false))
        {
            return await IndexAsync(stream, bytesProgress, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Indexes <paramref name="stream"/> from its current position to its end. <paramref name="bytesProgress"/>
    /// receives the running total of bytes hashed, after each chunk. The stream is not disposed.
    /// </summary>
    public static async Task<Manifest> IndexAsync(Stream stream, IProgress<long>? bytesProgress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(stream);

        // A folder scan indexes many small files: one buffer of the file's size each, not four of 4 MiB.
        if (stream.CanSeek && stream.Length - stream.Position < BufferSize)
        {
            var start = stream.Position;
            var small = await TryIndexWholeAsync(stream, (int)(stream.Length - start), bytesProgress, ct).ConfigureAwait(false);
            if (small is not null) return small;

            // It grew while being read: index it the long way, from the start.
            stream.Position = start;
        }

        var buffers = new byte[BufferCount][];
        var freeBuffers = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var batches = Channel.CreateBounded<Batch>(new BoundedChannelOptions(BufferCount) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            for (var i = 0; i < buffers.Length; i++)
            {
                buffers[i] = ChunkBufferPool.Shared.Rent(BufferSize);
                freeBuffers.Writer.TryWrite(buffers[i]);
            }

            var hashing = Task.Run(() => HashBatchesAsync(batches.Reader, freeBuffers.Writer, bytesProgress, stop), CancellationToken.None);
            Exception? readError = null;
            try
            {
                // Task.Run so that a stream that completes reads synchronously does not chunk on the caller's thread.
                await Task.Run(() => ReadAndChunkAsync(stream, batches.Writer, freeBuffers.Reader, stop.Token), CancellationToken.None)
                    .ConfigureAwait(false);
                batches.Writer.Complete();
            }
            catch (Exception e)
            {
                readError = e;
                batches.Writer.TryComplete();
                await stop.CancelAsync().ConfigureAwait(false);
            }

            // Buffers go back to the pool in the finally below, so the hasher must be done with them first.
            await ((Task)hashing).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (hashing.IsFaulted)
            {
                // The hasher's own failure is the cause; the reader then only saw the cancellation it triggered.
                ExceptionDispatchInfo.Throw(hashing.Exception.InnerException ?? hashing.Exception);
            }

            ct.ThrowIfCancellationRequested();
            if (readError is not null)
            {
                ExceptionDispatchInfo.Throw(readError);
            }

            return Manifest.FromLengthsAndHashes(await hashing.ConfigureAwait(false));
        }
        finally
        {
            foreach (var buffer in buffers)
            {
                if (buffer is not null) ChunkBufferPool.Shared.Return(buffer);
            }
        }
    }

    /// <summary>
    /// Reads the rest of <paramref name="stream"/>, expected to be <paramref name="expected"/> bytes, into one buffer
    /// and indexes it; null if there turn out to be more bytes than that.
    /// </summary>
    private static async Task<Manifest?> TryIndexWholeAsync(Stream stream, int expected, IProgress<long>? bytesProgress, CancellationToken ct)
    {
        // One byte more than expected, so that the end is seen as a read of nothing rather than a full buffer.
        var buffer = ChunkBufferPool.Shared.Rent(expected + 1);
        try
        {
            var filled = 0;
            int read;
            while ((read = await stream.ReadAsync(buffer.AsMemory(filled), ct).ConfigureAwait(false)) > 0)
            {
                filled += read;
                if (filled == buffer.Length) return null;
            }

            var entries = new List<(int Length, Hash256 Hash)>();
            var consumed = 0;
            int length;
            while ((length = GearChunker.FindBoundary(buffer.AsSpan(consumed, filled - consumed), isFinal: true)) > 0)
            {
                ct.ThrowIfCancellationRequested();
                entries.Add((length, Hash256.Compute(buffer.AsSpan(consumed, length))));
                consumed += length;
                bytesProgress?.Report(consumed);
            }

            return Manifest.FromLengthsAndHashes(entries);
        }
        finally
        {
            ChunkBufferPool.Shared.Return(buffer);
        }
    }

    private static async Task ReadAndChunkAsync(
        Stream stream, ChannelWriter<Batch> batches, ChannelReader<byte[]> freeBuffers, CancellationToken ct)
    {
        var buffer = await freeBuffers.ReadAsync(ct).ConfigureAwait(false);
        var filled = 0;
        var chunkCount = 0;
        while (true)
        {
            var isFinal = false;
            while (filled < BufferSize)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(filled, BufferSize - filled), ct).ConfigureAwait(false);
                if (read == 0)
                {
                    isFinal = true;
                    break;
                }

                filled += read;
            }

            var lengths = new List<int>();
            var consumed = 0;
            int length;
            while ((length = GearChunker.FindBoundary(buffer.AsSpan(consumed, filled - consumed), isFinal)) > 0)
            {
                lengths.Add(length);
                consumed += length;
            }

            chunkCount += lengths.Count;
            if (chunkCount > Manifest.MaxChunkCount)
            {
                throw new NotSupportedException($"The data has more than {Manifest.MaxChunkCount} chunks, more than a manifest can hold.");
            }

            if (isFinal)
            {
                if (lengths.Count > 0)
                {
                    await batches.WriteAsync(new Batch(buffer, lengths), ct).ConfigureAwait(false);
                }

                return;
            }

            // Take the next buffer before handing this one over: once handed over, the hasher may give it back
            // as free while the tail is still being copied out of it.
            var next = await freeBuffers.ReadAsync(ct).ConfigureAwait(false);
            var tail = filled - consumed;
            buffer.AsSpan(consumed, tail).CopyTo(next);
            await batches.WriteAsync(new Batch(buffer, lengths), ct).ConfigureAwait(false);
            buffer = next;
            filled = tail;
        }
    }

    private static async Task<List<(int Length, Hash256 Hash)>> HashBatchesAsync(
        ChannelReader<Batch> batches, ChannelWriter<byte[]> freeBuffers, IProgress<long>? bytesProgress, CancellationTokenSource stop)
    {
        var entries = new List<(int Length, Hash256 Hash)>();
        long hashed = 0;
        try
        {
            while (await batches.WaitToReadAsync(stop.Token).ConfigureAwait(false))
            {
                while (batches.TryRead(out var batch))
                {
                    var offset = 0;
                    foreach (var length in batch.Lengths)
                    {
                        stop.Token.ThrowIfCancellationRequested();
                        entries.Add((length, Hash256.Compute(batch.Buffer.AsSpan(offset, length))));
                        offset += length;
                        hashed += length;
                        bytesProgress?.Report(hashed);
                    }

                    freeBuffers.TryWrite(batch.Buffer);
                }
            }

            return entries;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Wakes the reader, which may be waiting for a free buffer that will now never come.
            await stop.CancelAsync().ConfigureAwait(false);
            throw;
        }
    }

    private readonly record struct Batch(byte[] Buffer, List<int> Lengths);
}
